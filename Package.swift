// swift-tools-version:6.0
import PackageDescription

let packageRoot = String(#filePath.dropLast("/Package.swift".count))

// Only the SPEC's C symbols leave libsupervisor.so; the Swift runtime is linked
// in statically so a C engine needs nothing beyond libc, libyajl and libcap.
let libraryLinkerFlags: [String] = [
    "-static-stdlib",
    "-use-ld=lld",
    "-Xlinker", "-soname=libsupervisor.so.1",
    "-Xlinker", "--version-script=\(packageRoot)/Sources/supervisor/exports.map",
    "-Xlinker", "-z", "-Xlinker", "now",
    "-Xlinker", "-z", "-Xlinker", "relro",
]

// The shim is Embedded Swift (no Swift runtime, no Foundation): one runs
// per container, so its private memory is multiplied by the node's
// container count. It links libc and libyajl only; non-PIE, so its few
// pointers need no load-time relocation (no private dirty copy of them).
let shimLinkerFlags: [String] = [
    "-Xclang-linker", "-no-pie",
    "-Xlinker", "--as-needed",
]

let package = Package(
    name: "libsupervisor",
    products: [
        .library(name: "supervisor", type: .dynamic, targets: ["supervisor"]),
        .executable(name: "isulad-shim", targets: ["isulad-shim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .systemLibrary(name: "CSupervisor", path: "Include"),
        .systemLibrary(name: "CYajl", pkgConfig: "yajl", providers: [.apt(["libyajl-dev"])]),
        .systemLibrary(name: "CLibcap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .target(name: "CPlatform"),
        .target(
            name: "Platform",
            dependencies: [
                "CPlatform", "CYajl",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Logging front of the library (the engine's log hook, or stderr).
        // Kept out of Platform so the shim does not carry it.
        .target(name: "Diagnostics", dependencies: ["Platform"]),
        .target(
            name: "Cleaner",
            dependencies: [
                "Platform", "Diagnostics", "CLibcap", "CPlatform",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "SupervisorCore",
            dependencies: [
                "Platform", "Cleaner", "Diagnostics", "CSupervisor",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "supervisor",
            dependencies: ["SupervisorCore", "Cleaner", "Diagnostics", "CSupervisor"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(libraryLinkerFlags)]
        ),
        // The shim's C helpers and headers (Glibc is not importable in
        // Embedded mode): cmsghdr, signalfd, the fork child, variadic calls.
        .target(name: "CShim", linkerSettings: [.linkedLibrary("yajl")]),
        .executableTarget(
            name: "isulad-shim",
            dependencies: ["CShim"],
            path: "shim",
            swiftSettings: [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo", "-Osize"])],
            linkerSettings: [.unsafeFlags(shimLinkerFlags)]
        ),
        .testTarget(
            name: "SupervisorCoreTests",
            dependencies: [
                "SupervisorCore", "Platform", "Cleaner", "Diagnostics", "CPlatform",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .testTarget(
            name: "PlatformTests",
            dependencies: ["Platform", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .testTarget(
            name: "CleanerTests",
            dependencies: ["Cleaner", "Platform", "Diagnostics"]
        ),
    ]
)
