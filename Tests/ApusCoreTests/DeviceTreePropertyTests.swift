import Testing
@testable import ApusCore

@Suite struct DeviceTreePropertyTests {
    @Test func constructorsEncodeBigEndian() {
        #expect(DTProperty.u32("a", 0x1234_5678).value == [0x12, 0x34, 0x56, 0x78])
        #expect(DTProperty.u64("a", 0x0102_0304_0506_0708).value == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(DTProperty.cells("a", [1, 0xFFFF_FFFF]).value == [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(DTProperty.string("a", "hi").value == [0x68, 0x69, 0])
        #expect(DTProperty.strings("a", ["x", "", "yz"]).value == [0x78, 0, 0, 0x79, 0x7A, 0])
        #expect(DTProperty.empty("a").value.isEmpty)
        #expect(DTProperty.empty("a").isEmpty)
        #expect(DTProperty.bytes("a", [9, 8, 7]).value == [9, 8, 7])
        #expect(DTProperty.u32("name", 0).name == dtText("name"))
        #expect(DTProperty.u32(dtText("raw"), 1) == DTProperty.u32("raw", 1))
        #expect(DTProperty.string(dtText("s"), dtText("v")) == DTProperty.string("s", "v"))
        #expect(DTProperty.strings(dtText("s"), [dtText("v"), dtText("w")]) == DTProperty.strings("s", ["v", "w"]))
    }

    @Test func numericReaders() {
        let p = DTProperty.cells("p", [0x11, 0x22, 0x33])
        #expect(p.u32() == 0x11)
        #expect(p.u32(at: 2) == 0x33)
        #expect(p.u32(at: 3) == nil)
        #expect(p.u32(at: -1) == nil)
        #expect(p.u32(at: Int.max) == nil)
        #expect(p.u64() == 0x11_0000_0022)
        #expect(p.u64(at: 1) == nil)          // only 4 bytes left
        #expect(p.u64(at: Int.max) == nil)
        #expect(p.number(atCell: 1, count: 2) == 0x22_0000_0033)
        #expect(p.number(atCell: 2, count: 1) == 0x33)
        #expect(p.number(atCell: 2, count: 2) == nil)
        #expect(p.number(atCell: 3, count: 0) == 0)
        #expect(p.number(atCell: 4, count: 0) == nil)
        #expect(p.number(atCell: 0, count: 3) == nil)
        #expect(p.cells == [0x11, 0x22, 0x33])
        #expect(DTProperty.bytes("b", [1, 2, 3]).cells == nil)
        #expect(DTProperty.bytes("b", [1, 2, 3]).u32() == nil)
        #expect(DTProperty.empty("e").cells == [])
    }

    @Test func stringReaders() {
        let p = DTProperty.strings("compatible", ["arm,pl011", "arm,primecell"])
        #expect(p.strings == [dtText("arm,pl011"), dtText("arm,primecell")])
        #expect(p.string == dtText("arm,pl011"))
        #expect(p.containsString("arm,primecell"))
        #expect(p.containsString(dtText("arm,pl011")))
        #expect(!p.containsString("arm,pl01"))
        #expect(!p.containsString("arm,pl0111"))
        #expect(!p.containsString(""))
        #expect(p.indexOfString("arm,primecell") == 1)
        #expect(p.indexOfString("nope") == nil)
        // A missing final NUL is tolerated; empty strings inside a list are kept.
        let loose = DTProperty.bytes("x", [0x61, 0, 0, 0x62])
        #expect(loose.strings == [dtText("a"), [], dtText("b")])
        #expect(loose.containsString(""))
        #expect(DTProperty.empty("x").strings.isEmpty)
        #expect(DTProperty.empty("x").string == nil)
    }

    @Test func namesCompareAsBytes() {
        let p = DTProperty.u32("reg", 1)
        #expect(p.hasName("reg"))
        #expect(!p.hasName("re"))
        #expect(!p.hasName("regs"))
        #expect(p.hasName(dtText("reg")))
    }

    @Test func hostStringViews() {
        let p = DTProperty.strings("clock-names", ["uartclk", "apb_pclk"])
        #expect(p.nameString == "clock-names")
        #expect(p.stringValue == "uartclk")
        #expect(p.stringValues == ["uartclk", "apb_pclk"])
    }
}
