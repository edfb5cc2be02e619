package org.crossgpu.android

import android.content.Context
import android.net.nsd.NsdManager
import android.net.nsd.NsdServiceInfo
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import java.net.InetAddress

/**
 * DNS-SD for crossgpu on Android: this device ADVERTISES itself as `_crossgpu._tcp` (the part the
 * seed's Android code never did — it browsed, but nothing registered) and BROWSES for the other
 * nodes. The TXT keys match docs/DISCOVERY.md (id, proto, devices), so desktop nodes
 * (avahi) and Apple devices (Bonjour) see the phone and the phone sees them. A discovered peer is
 * only a candidate: the cluster trusts it after the mutual-TLS handshake (docs/SECURITY.md).
 */
class CrossGpuNsd(context: Context) {
    private val nsd = context.getSystemService(Context.NSD_SERVICE) as NsdManager

    data class Peer(val name: String, val host: InetAddress, val port: Int, val txt: Map<String, String>) {
        val nodeId: String? get() = txt["id"]
        val protocol: String? get() = txt["proto"]
    }

    /** Registers this node; close the returned handle to withdraw the advertisement. */
    fun advertise(instanceName: String, port: Int, nodeId: String, devicesSummary: String): AutoCloseable {
        require(port in 1..65535) { "port $port is not a TCP port" }
        val info = NsdServiceInfo().apply {
            serviceName = instanceName
            serviceType = SERVICE_TYPE
            setPort(port)
            setAttribute("id", nodeId)
            setAttribute("proto", PROTOCOL_VERSION)
            setAttribute("devices", devicesSummary.take(MAX_TXT_VALUE))
        }
        val listener = object : NsdManager.RegistrationListener {
            override fun onServiceRegistered(registered: NsdServiceInfo) {}
            override fun onRegistrationFailed(failed: NsdServiceInfo, errorCode: Int) {
                throw IllegalStateException("NSD registration of ${failed.serviceName} failed: error $errorCode")
            }
            override fun onServiceUnregistered(info: NsdServiceInfo) {}
            override fun onUnregistrationFailed(info: NsdServiceInfo, errorCode: Int) {}
        }
        nsd.registerService(info, NsdManager.PROTOCOL_DNS_SD, listener)
        return AutoCloseable { nsd.unregisterService(listener) }
    }

    /** Peers as they are found and resolved; collection stops browsing when cancelled. */
    fun browse(): Flow<Peer> = callbackFlow {
        val discovery = object : NsdManager.DiscoveryListener {
            override fun onDiscoveryStarted(serviceType: String) {}
            override fun onDiscoveryStopped(serviceType: String) {}
            override fun onStartDiscoveryFailed(serviceType: String, errorCode: Int) {
                close(IllegalStateException("NSD discovery failed to start: error $errorCode"))
            }
            override fun onStopDiscoveryFailed(serviceType: String, errorCode: Int) {}
            override fun onServiceLost(service: NsdServiceInfo) {}
            override fun onServiceFound(service: NsdServiceInfo) {
                @Suppress("DEPRECATION")  // resolveService is the API available from minSdk 28
                nsd.resolveService(service, object : NsdManager.ResolveListener {
                    override fun onResolveFailed(info: NsdServiceInfo, errorCode: Int) {}
                    override fun onServiceResolved(info: NsdServiceInfo) {
                        val host = info.host ?: return
                        trySend(Peer(info.serviceName, host, info.port, decodeTxt(info.attributes)))
                    }
                })
            }
        }
        nsd.discoverServices(SERVICE_TYPE, NsdManager.PROTOCOL_DNS_SD, discovery)
        awaitClose { nsd.stopServiceDiscovery(discovery) }
    }

    companion object {
        const val SERVICE_TYPE = "_crossgpu._tcp"
        const val PROTOCOL_VERSION = "1.0"
        private const val MAX_TXT_VALUE = 200  // one TXT string is at most 255 bytes with its key

        /** TXT values arrive as bytes; anything not valid UTF-8 is dropped rather than guessed. */
        fun decodeTxt(attributes: Map<String, ByteArray?>): Map<String, String> =
            attributes.mapNotNull { (key, value) ->
                val text = value?.let { runCatching { Charsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(it)).toString() }.getOrNull() }
                text?.let { key.lowercase() to it }
            }.toMap()
    }
}
