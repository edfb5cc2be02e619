package org.crossgpu.android

import org.junit.Assert.assertEquals
import org.junit.Test

/** Host-side (JVM) tests of the parts of the module that need neither a device nor the JNI library. */
class DecodeTxtTest {
    @Test
    fun decodesUtf8ValuesAndLowercasesKeys() {
        val txt = CrossGpuNsd.decodeTxt(
            mapOf("ID" to "node-1".toByteArray(), "proto" to "1.0".toByteArray(), "devices" to "gpu·2".toByteArray()))
        assertEquals(mapOf("id" to "node-1", "proto" to "1.0", "devices" to "gpu·2"), txt)
    }

    @Test
    fun dropsInvalidUtf8AndMissingValues() {
        val txt = CrossGpuNsd.decodeTxt(
            mapOf("id" to byteArrayOf(0xC3.toByte(), 0x28), "proto" to null, "devices" to "1".toByteArray()))
        assertEquals(mapOf("devices" to "1"), txt)
    }

    @Test
    fun serviceTypeMatchesTheDesktopNodes() {
        assertEquals("_crossgpu._tcp", CrossGpuNsd.SERVICE_TYPE)
    }
}
