package org.crossgpu;

/** A node's role in the cluster; each includes the rights of the ones before it. Same order as cg_role. */
public enum Role {
    /** May list devices and read status. */
    MONITOR,
    /** May also allocate memory and run work. */
    COMPUTE,
    /** May also invite and remove nodes. */
    ADMIN
}
