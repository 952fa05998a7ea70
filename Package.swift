// swift-tools-version: 6.1
// Apus: one package, two worlds.
//  - ApusCore: portable Swift, built for the host (tests, tool) and in Embedded mode (the image).
//  - AArch64 + ApusHypervisor: the EL2 image, built only with
//      swift build -c release --triple aarch64-none-none-elf --toolset toolset.json --product ApusHypervisor
//    On the host these targets compile to empty shells (their sources are guarded).
//  - apus: the host command-line tool.
import PackageDescription

let package = Package(
    name: "Apus",
    products: [
        .executable(name: "apus", targets: ["apus"]),
        .executable(name: "ApusHypervisor", targets: ["ApusHypervisor"]),
        .library(name: "ApusCore", targets: ["ApusCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "ApusCore"),
        .target(
            name: "AArch64",
            cSettings: [.unsafeFlags(["-ffreestanding", "-fno-builtin", "-mgeneral-regs-only"])]
        ),
        .executableTarget(
            name: "ApusHypervisor",
            dependencies: ["ApusCore", "AArch64"],
            swiftSettings: [
                .enableExperimentalFeature("Extern"),
                .enableExperimentalFeature("SymbolLinkageMarkers"),
            ]
        ),
        .executableTarget(
            name: "apus",
            dependencies: [
                "ApusCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ApusCoreTests", dependencies: ["ApusCore"]),
        // Boots the real image in QEMU through `apus run` (needs `apus build` and `apus fetch-guest` first).
        .testTarget(name: "ApusSystemTests", dependencies: ["ApusCore"]),
    ]
)
