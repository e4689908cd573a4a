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

// One shim runs per container, so its private memory is multiplied by the
// node's container count. Non-PIE: the statically linked Swift runtime's
// pointer-heavy data (.data.rel.ro, GOT) needs no load-time relocation and
// stays shared, clean file pages instead of ~260 KiB private dirty per shim.
// libstdc++ is linked statically too (a -L directory holding only libstdc++.a
// wins over the shared one for the -lstdc++ that -static-stdlib adds).
let shimLinkerFlags: [String] = [
    "-L\(packageRoot)/build-support/static-libstdcxx",
    "-static-stdlib",
    "-use-ld=lld",
    "-Xclang-linker", "-no-pie",
    "-Xlinker", "--no-export-dynamic",
]

let package = Package(
    name: "libsupervisor",
    products: [
        .library(name: "supervisor", type: .dynamic, targets: ["supervisor"]),
        .executable(name: "isulad-shim", targets: ["isulad-shim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        // Logging facade for the library (swift-log forwarding to the engine's
        // log hook). Kept out of Platform so the shim does not carry it.
        .target(
            name: "Diagnostics",
            dependencies: ["Platform", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Cleaner",
            dependencies: [
                "Platform", "Diagnostics", "CLibcap",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "SupervisorCore",
            dependencies: [
                "Platform", "Cleaner", "Diagnostics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "supervisor",
            dependencies: ["SupervisorCore", "Cleaner", "Diagnostics", "CSupervisor"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(libraryLinkerFlags)]
        ),
        .executableTarget(
            name: "isulad-shim",
            dependencies: [
                "Platform",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "shim",
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
            name: "CleanerTests",
            dependencies: ["Cleaner", "Platform", "Diagnostics"]
        ),
    ]
)
