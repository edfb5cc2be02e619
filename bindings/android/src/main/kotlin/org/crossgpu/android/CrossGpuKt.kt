package org.crossgpu.android

import org.crossgpu.Buffer
import org.crossgpu.CrossGpu
import org.crossgpu.Device
import java.nio.ByteBuffer

/** Kotlin-friendly helpers over org.crossgpu (which Kotlin already uses with `use {}`). */

/** The fastest-looking GPU: a discrete or integrated Vulkan device, else the CPU. */
fun CrossGpu.bestDevice(): Device =
    devices().firstOrNull { it.backend() == "vulkan" && it.type() != "cpu" } ?: devices().first()

/** Uploads floats through a direct buffer (one explicit copy from the array, none hidden). */
fun Buffer.uploadFloats(values: FloatArray, offset: Long = 0) {
    val direct = Buffer.allocateDirect(values.size * 4)
    direct.asFloatBuffer().put(values)
    upload(direct, offset)
}

fun Buffer.downloadFloats(count: Int, offset: Long = 0): FloatArray {
    val direct: ByteBuffer = Buffer.allocateDirect(count * 4)
    download(direct, offset)
    return FloatArray(count).also { direct.asFloatBuffer().get(it) }
}
