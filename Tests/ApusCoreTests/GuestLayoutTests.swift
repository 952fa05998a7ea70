import Testing
@testable import ApusCore

/// An arm64 Image header (Documentation/arch/arm64/booting.rst), little-endian.
private func imageHeader(textOffset: UInt64, imageSize: UInt64, flags: UInt64,
                         magic: [UInt8] = [0x41, 0x52, 0x4D, 0x64], length: Int = 64) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: max(length, 64))
    func put(_ v: UInt64, at o: Int) { for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) } }
    put(0x1400_0010_91005A4D, at: 0)       // code0/code1: "MZ" + branch, as an EFI-stub kernel has
    put(textOffset, at: 8)
    put(imageSize, at: 16)
    put(flags, at: 24)
    for i in 0..<4 { b[56 + i] = magic[i] }
    b[60] = 0x40                            // PE header offset, ignored
    return Array(b[0..<length])
}

private let miB: UInt64 = 1 << 20

typealias GuestPlacementCase = (ramBase: UInt64, ramSize: UInt64, kernel: UInt64, image: UInt64, initrd: UInt64, dtb: UInt64)

@Suite struct GuestLayoutTests {
    // MARK: header

    @Test func parsesTheHeader() throws {
        let h = try #require(LinuxImageHeader(imageHeader(textOffset: 0, imageSize: 0x2C7_0000, flags: 0xA)))
        #expect(h.textOffset == 0)
        #expect(h.imageSize == 0x2C7_0000)
        #expect(h.flags == 0xA)
        let old = try #require(LinuxImageHeader(imageHeader(textOffset: 0x8_0000, imageSize: 0x0123_4567_89AB_CDEF,
                                                            flags: 0x8000_0000_0000_0001)))
        #expect(old.textOffset == 0x8_0000)
        #expect(old.imageSize == 0x0123_4567_89AB_CDEF, "little-endian, all eight bytes")
        #expect(old.flags == 0x8000_0000_0000_0001)
    }

    @Test func parsesTheStartOfAWholeImage() throws {
        let image = imageHeader(textOffset: 0, imageSize: 0x100_0000, flags: 2, length: 4096)
        #expect(LinuxImageHeader(image)?.imageSize == 0x100_0000)
    }

    @Test func rejectsWhatIsNotAnImage() {
        #expect(LinuxImageHeader(imageHeader(textOffset: 0, imageSize: 1, flags: 0, length: 63)) == nil, "too short")
        #expect(LinuxImageHeader([]) == nil)
        #expect(LinuxImageHeader(imageHeader(textOffset: 0, imageSize: 1, flags: 0, magic: [0x41, 0x52, 0x4D, 0x44])) == nil)
        #expect(LinuxImageHeader(imageHeader(textOffset: 0, imageSize: 1, flags: 0, magic: [0x64, 0x4D, 0x52, 0x41])) == nil,
                "byte order matters")
        #expect(LinuxImageHeader(imageHeader(textOffset: 0, imageSize: 1, flags: 0, magic: [0, 0, 0, 0])) == nil)
        // An ELF file or a gzip-compressed Image.
        #expect(LinuxImageHeader([0x7F, 0x45, 0x4C, 0x46] + [UInt8](repeating: 0, count: 60)) == nil)
        #expect(LinuxImageHeader([0x1F, 0x8B, 0x08, 0x00] + [UInt8](repeating: 0, count: 60)) == nil)
    }

    @Test func xenGuestMemoryMap() {
        #expect(GuestLayout.ram0Base == 0x4000_0000)
        #expect(GuestLayout.ram0MaxSize == 0xC000_0000)
        #expect(GuestLayout.ram1Base == 0x2_0000_0000)
        #expect(GuestLayout.ram0Base + GuestLayout.ram0MaxSize <= GuestLayout.ram1Base)
        #expect(GuestLayout.grantTableBase + GuestLayout.grantTableSize <= GuestLayout.magicBase)
        #expect(GuestLayout.magicBase + GuestLayout.magicSize <= GuestLayout.ram0Base)
        #expect(GuestLayout.eventChannelPPI == 31)
    }

    // MARK: placement

    @Test func typicalPlacement() throws {
        let p = try #require(GuestBootPlacement.place(ramBase: 0x4000_0000, ramSize: 256 * miB, kernelSize: 20 * miB,
                                                      imageSize: 24 * miB, textOffset: 0, initrdSize: 0x12_3456,
                                                      dtbSize: 0x1_0000))
        #expect(p.kernel == 0x4000_0000)
        #expect(p.initrd == 0x4FED_C000, "at the top, 4K aligned")
        #expect(p.dtb == 0x4FE0_0000, "the 2 MiB slot below the initrd")
    }

    @Test func textOffsetMovesTheKernel() throws {
        let p = try #require(GuestBootPlacement.place(ramBase: 0x4000_0000, ramSize: 128 * miB, kernelSize: 10 * miB,
                                                      imageSize: 0, textOffset: 0x8_0000, initrdSize: 0,
                                                      dtbSize: 0x8000))
        #expect(p.kernel == 0x4008_0000)
        #expect(p.initrd == 0x4800_0000, "an empty initrd sits at the top of RAM")
        #expect(p.dtb == 0x47E0_0000)
    }

    @Test(arguments: [
        (UInt64(0x4000_0000), 64 * miB, 8 * miB, 0, 1 * miB, UInt64(0x1_0000)),
        (0x4000_0000, 1024 * miB, 30 * miB, 40 * miB, 300 * miB, 0x20_0000),
        (0x4000_0000, 8 * miB, 1 * miB, 2 * miB, 0x1001, 0x1000),
        (0x8000_0000, 512 * miB, 60 * miB, 64 * miB, 0, 1),
        (0x4000_0000, 96 * miB, 20 * miB, 20 * miB, 60 * miB, 0x1_2345),
    ] as [GuestPlacementCase])
    func placementInvariants(_ c: GuestPlacementCase) throws {
        let p = try #require(GuestBootPlacement.place(ramBase: c.ramBase, ramSize: c.ramSize, kernelSize: c.kernel,
                                                      imageSize: c.image, textOffset: 0, initrdSize: c.initrd,
                                                      dtbSize: c.dtb))
        let top = c.ramBase + c.ramSize
        #expect(p.kernel == c.ramBase)
        #expect(p.initrd % 0x1000 == 0)
        #expect(p.initrd + c.initrd <= top, "initrd inside RAM")
        #expect(top - (p.initrd + c.initrd) < 0x1000, "initrd as high as alignment allows")
        #expect(p.dtb % (2 * miB) == 0)
        #expect(p.dtb + c.dtb <= p.initrd, "DTB below the initrd")
        #expect(p.dtb >= p.kernel + max(c.kernel, c.image), "DTB above the kernel's end (including BSS)")
        #expect(p.initrd - p.dtb < 4 * miB, "the highest 2 MiB slot that fits")
    }

    @Test func nilWhenItCannotFit() {
        func place(ram: UInt64 = 64 * miB, kernel: UInt64 = 8 * miB, image: UInt64 = 0, text: UInt64 = 0,
                   initrd: UInt64 = 0, dtb: UInt64 = 0x1_0000) -> GuestBootPlacement? {
            GuestBootPlacement.place(ramBase: 0x4000_0000, ramSize: ram, kernelSize: kernel, imageSize: image,
                                     textOffset: text, initrdSize: initrd, dtbSize: dtb)
        }
        #expect(place() != nil, "the baseline fits")
        #expect(place(ram: 8 * miB - 0x1000, kernel: miB) == nil, "less than 8 MiB of RAM")
        #expect(place(text: 2 * miB) == nil, "text_offset must be below 2 MiB")
        #expect(place(dtb: 2 * miB + 1) == nil, "DTB larger than 2 MiB")
        #expect(place(kernel: 65 * miB) == nil, "kernel larger than RAM")
        #expect(place(initrd: 65 * miB) == nil, "initrd larger than RAM")
        #expect(place(initrd: 63 * miB) == nil, "initrd reaching into the first 2 MiB")
        #expect(place(kernel: 51 * miB, initrd: 12 * miB) == nil, "no 2 MiB slot left between kernel and initrd")
        #expect(place(kernel: 50 * miB, initrd: 12 * miB) != nil, "the slot right at the kernel's end")
        #expect(place(kernel: 8 * miB, image: 63 * miB) == nil, "image_size (with BSS) counts, not just the file")
        #expect(place(kernel: 8 * miB, image: 62 * miB) != nil)
    }

    /// image_size comes from the (untrusted) kernel header: a huge value must be refused,
    /// not trap on overflow. Runs in a child process because a trap would end the test run.
    @Test func hugeImageSizeIsRefusedNotATrap() async {
        await #expect(processExitsWith: .success) {
            let p = GuestBootPlacement.place(ramBase: 0x4000_0000, ramSize: 64 << 20, kernelSize: 8 << 20,
                                             imageSize: UInt64.max - 0x1000, textOffset: 0, initrdSize: 0,
                                             dtbSize: 0x1_0000)
            if p != nil { fatalError("placed a kernel whose image does not fit") }
        }
    }
}
