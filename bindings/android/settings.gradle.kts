// The Android library module as a build of its own (gradle assembleRelease in this folder), as the
// android workflow runs it; an app can instead include it as a module of its build.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "crossgpu-android"
