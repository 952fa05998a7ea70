import Testing
@testable import ApusCore

private enum Reg {
    static let dr: UInt64 = 0x00, rsr: UInt64 = 0x04, fr: UInt64 = 0x18
    static let imsc: UInt64 = 0x38, ris: UInt64 = 0x3C, mis: UInt64 = 0x40, icr: UInt64 = 0x44
}
// FR: RXFE 4, TXFF 5, RXFF 6, TXFE 7. Interrupts: RXI 4, TXI 5, RTI 6.
private let rxfe: UInt64 = 1 << 4, txff: UInt64 = 1 << 5, rxff: UInt64 = 1 << 6, txfe: UInt64 = 1 << 7
private let rxi: UInt64 = 1 << 4, txi: UInt64 = 1 << 5, rti: UInt64 = 1 << 6

@Suite struct VirtualPL011Tests {
    @Test func layout() {
        #expect(VirtualPL011.base == 0x2200_0000)
        #expect(VirtualPL011.size == 0x1000)
        #expect(VirtualPL011.intid == 32)
    }

    @Test func flagsWithEmptyFIFO() {
        var u = VirtualPL011()
        #expect(u.read(offset: Reg.fr, size: 4) == txfe | rxfe)
        #expect(u.read(offset: Reg.ris, size: 4) == txi, "transmit is always ready")
        #expect(u.read(offset: Reg.mis, size: 4) == 0)
        #expect(u.read(offset: Reg.imsc, size: 4) == 0)
        #expect(!u.interruptLine)
        #expect(u.receiveSpace == VirtualPL011.capacity)
    }

    @Test func flagsWithData() {
        var u = VirtualPL011()
        #expect(u.receive(0x41) == true)
        #expect(u.read(offset: Reg.fr, size: 4) == txfe, "neither empty nor full")
        #expect(u.read(offset: Reg.ris, size: 4) == txi | rxi | rti)
        #expect(u.receiveSpace == VirtualPL011.capacity - 1)
    }

    @Test func fullFIFOAndOverflow() {
        var u = VirtualPL011()
        for i in 0..<VirtualPL011.fifoSize { #expect(u.receive(UInt8(i)) == true) }
        #expect(u.read(offset: Reg.fr, size: 4) == txfe | rxff)
        #expect(u.receiveSpace == VirtualPL011.backlogSize)
        // A paste of 4 KiB more waits behind the FIFO; the byte after it is dropped.
        for i in 0..<VirtualPL011.backlogSize { #expect(u.receive(UInt8(truncatingIfNeeded: i + VirtualPL011.fifoSize)) == true) }
        #expect(u.receiveSpace == 0)
        #expect(u.receive(0xEE) == false, "dropped")
        #expect(u.receiveSpace == 0)
        // Everything arrives in order as the guest reads, RXFF set while 32 or more are held;
        // the dropped byte never shows up.
        var got: [UInt8] = []
        var wrongFlags = 0
        for i in 0..<VirtualPL011.capacity {
            let full = u.read(offset: Reg.fr, size: 4)! & rxff != 0
            if full != (VirtualPL011.capacity - i >= VirtualPL011.fifoSize) { wrongFlags += 1 }
            got.append(UInt8(u.read(offset: Reg.dr, size: 4) ?? 0xFF))
        }
        #expect(wrongFlags == 0)
        #expect(got == (0..<VirtualPL011.capacity).map { UInt8(truncatingIfNeeded: $0) })
        #expect(u.read(offset: Reg.fr, size: 4) == txfe | rxfe)
        #expect(u.read(offset: Reg.dr, size: 4) == 0, "empty FIFO reads 0")
    }

    @Test func readsPopInOrderAcrossTheRingBoundary() {
        var u = VirtualPL011()
        var expected: [UInt8] = []
        var got: [UInt8] = []
        var next: UInt8 = 0
        // Keep the FIFO partly full while its head travels around the ring several times.
        for round in 0..<500 {
            for _ in 0..<(20 + round % 3) {
                if u.receive(next) { expected.append(next) }
                next &+= 1
            }
            for _ in 0..<18 { if let b = u.read(offset: Reg.dr, size: 1) { got.append(UInt8(b)) } }
        }
        while u.receiveSpace < VirtualPL011.capacity {
            got.append(UInt8(u.read(offset: Reg.dr, size: 1)!))
        }
        #expect(got.count == expected.count)
        #expect(got == expected)
    }

    @Test func frReadDoesNotConsume() {
        var u = VirtualPL011()
        u.receive(0x5A)
        _ = u.read(offset: Reg.fr, size: 4)
        _ = u.read(offset: Reg.ris, size: 4)
        #expect(u.read(offset: Reg.dr, size: 1) == 0x5A)
    }

    @Test func interruptMaskAndLine() {
        var u = VirtualPL011()
        #expect(u.write(offset: Reg.imsc, size: 4, value: rxi | rti) == (true, nil))
        #expect(u.read(offset: Reg.imsc, size: 4) == rxi | rti)
        #expect(u.interruptMask == UInt32(rxi | rti))
        #expect(!u.interruptLine, "nothing received yet")
        #expect(u.read(offset: Reg.mis, size: 4) == 0)
        u.receive(0x31)
        #expect(u.interruptLine)
        #expect(u.read(offset: Reg.mis, size: 4) == rxi | rti)
        _ = u.read(offset: Reg.dr, size: 4)
        #expect(!u.interruptLine, "drained")
        #expect(u.read(offset: Reg.mis, size: 4) == 0)
        // Unmasking TX raises the line at once: the transmitter is always ready.
        _ = u.write(offset: Reg.imsc, size: 4, value: txi)
        #expect(u.interruptLine)
        #expect(u.read(offset: Reg.mis, size: 4) == txi)
        _ = u.write(offset: Reg.imsc, size: 4, value: 0)
        #expect(!u.interruptLine)
    }

    @Test func interruptMaskKeepsOnlyDefinedBits() {
        var u = VirtualPL011()
        _ = u.write(offset: Reg.imsc, size: 4, value: 0xFFFF_FFFF)
        #expect(u.read(offset: Reg.imsc, size: 4) == 0x7FF)
    }

    @Test func interruptClear() {
        var u = VirtualPL011()
        _ = u.write(offset: Reg.imsc, size: 4, value: rxi | rti)
        u.receive(1)
        #expect(u.write(offset: Reg.icr, size: 4, value: 0x7FF) == (true, nil))
        #expect(u.read(offset: Reg.ris, size: 4) == txi | rxi | rti, "data still waiting: receive interrupt stays")
        #expect(u.interruptLine)
        _ = u.read(offset: Reg.dr, size: 4)
        _ = u.write(offset: Reg.icr, size: 4, value: 0x7FF)
        #expect(u.read(offset: Reg.ris, size: 4) == txi)
        #expect(!u.interruptLine)
        #expect(u.read(offset: Reg.icr, size: 4) == 0, "ICR is write-only")
    }

    @Test func drWriteReturnsTheByte() {
        var u = VirtualPL011()
        #expect(u.write(offset: Reg.dr, size: 1, value: 0x41) == (true, 0x41))
        #expect(u.write(offset: Reg.dr, size: 4, value: 0x1_0A42) == (true, 0x42), "only the data byte")
        #expect(u.write(offset: Reg.dr, size: 2, value: 0x0A) == (true, 0x0A))
        #expect(u.read(offset: Reg.fr, size: 4) == txfe | rxfe, "transmit does not loop back")
    }

    @Test func accessWidths() {
        var u = VirtualPL011()
        u.receive(0x61)
        #expect(u.read(offset: Reg.fr, size: 1) == nil, "only DR takes byte accesses")
        #expect(u.read(offset: Reg.fr, size: 8) == nil)
        #expect(u.read(offset: Reg.fr, size: 2) == txfe)
        #expect(u.read(offset: Reg.dr, size: 8) == nil)
        #expect(u.receiveSpace == VirtualPL011.capacity - 1, "a refused read pops nothing")
        #expect(u.write(offset: Reg.imsc, size: 1, value: 0x10) == (false, nil))
        #expect(u.read(offset: Reg.imsc, size: 4) == 0)
        #expect(u.write(offset: Reg.dr, size: 8, value: 0x41) == (false, nil))
        #expect(u.read(offset: Reg.dr, size: 1) == 0x61)
    }

    @Test func otherOffsets() {
        var u = VirtualPL011()
        #expect(u.read(offset: Reg.rsr, size: 4) == 0)
        #expect(u.write(offset: Reg.rsr, size: 4, value: 0xF) == (true, nil))
        #expect(u.read(offset: 0xFE0, size: 4) == 0, "PeriphID: RAZ")
        #expect(u.read(offset: 0x24, size: 4) == 0, "IBRD: RAZ")
        #expect(u.write(offset: 0x30, size: 4, value: 0x301) == (true, nil), "CR: ignored")
        #expect(u.read(offset: VirtualPL011.size, size: 4) == nil)
        #expect(u.write(offset: VirtualPL011.size, size: 4, value: 0) == (false, nil))
    }
}
