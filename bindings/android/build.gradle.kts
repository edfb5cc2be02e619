// Android library module (AAR): the org.crossgpu Java API, its JNI library built by the NDK from
// this repository's CMake project (library-only build: core, device, kernels, C ABI, JNI), and
// DNS-SD registration/browsing through NsdManager. Not built on the development machine (no
// Android SDK); .github/workflows/android.yml builds the AAR and runs src/test on GitHub.
plugins {
    id("com.android.library") version "8.5.2"
    id("org.jetbrains.kotlin.android") version "1.9.24"
}

android {
    namespace = "org.crossgpu"
    compileSdk = 34
    ndkVersion = "26.3.11579264"

    defaultConfig {
        minSdk = 28  // Vulkan 1.1 is guaranteed from Android 9 on 64-bit devices
        externalNativeBuild {
            cmake {
                arguments += listOf("-DCROSSGPU_LIBRARY_ONLY=ON", "-DANDROID_STL=c++_shared")
            }
        }
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
    }

    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.25.1"
        }
    }

    sourceSets["main"].java.srcDirs("../java/src/main/java", "src/main/kotlin")
    sourceSets["test"].java.srcDirs("src/test/kotlin")

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

dependencies {
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.1")
    testImplementation("junit:junit:4.13.2")
}
