package org.crossgpu;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The cluster operations of a config folder (the `crossgpu cluster` commands). A null folder means
 * the default one ($XDG_CONFIG_HOME/crossgpu, else ~/.config/crossgpu). In a library built without
 * networking every method throws {@link Exceptions.UnsupportedException}.
 */
public final class Cluster {
    private Cluster() {}

    /** Creates a cluster with this folder's node as its admin; refuses an existing one unless force. */
    public static void init(Path configDir, String name, boolean force) {
        Native.clusterInit(text(configDir), name, force);
    }

    /**
     * A one-use join token for a node of {@code role}, enrolling through {@code addresses}
     * (host:port of nodes serving this folder's CA). Keep it as private as a key.
     */
    public static String invite(Path configDir, Role role, Duration validFor, List<String> addresses) {
        if (role == null || validFor == null || addresses == null) throw new NullPointerException("role, validFor and addresses are required");
        if (validFor.isNegative() || validFor.isZero()) throw new IllegalArgumentException("validFor must be positive, got " + validFor);
        return Native.clusterInvite(text(configDir), role.ordinal(), validFor.getSeconds(), String.join(",", addresses));
    }

    /** Enrolls this folder with a token; {@code nodeName} null means the hostname. */
    public static void join(Path configDir, String token, String nodeName, boolean force) {
        Native.clusterJoin(text(configDir), token, nodeName, force);
    }

    /** Revokes a node (needs role admin): its next call is refused. */
    public static void remove(Path configDir, String nodeId) { Native.clusterRemove(text(configDir), nodeId); }

    /**
     * This folder's identity as JSON and, when {@code nodeAddress} is not null, the cluster as that
     * node sees it (the shape of `crossgpu status --json` under "nodes").
     */
    public static String statusJson(Path configDir, String nodeAddress) {
        return Native.clusterStatusJson(text(configDir), nodeAddress);
    }

    static String text(Path path) { return path == null ? null : path.toString(); }
}
