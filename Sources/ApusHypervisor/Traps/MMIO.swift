#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Stage-2 data aborts: the first touch of a RAM block populates it; accesses to the
/// emulated GIC and UART are carried out; anything else outside the domain's RAM is an
/// external abort for the guest.
enum MMIO {
    static func handle(_ frame: UnsafeMutablePointer<apus_frame>, _ da: DataAbort, _ v: VCPU, _ d: Domain) {
        let va = read_far_el2()
        let ipa = faultIPA(va: va)
        // Also for a stage-1 table walk (the guest's page tables may sit in a fresh block).
        if da.isTranslationFault, d.populateOnFault(ipa) { return }   // the access is retried
        guard da.isValid, !da.onStage1Walk else {
            v.traps[TrapKind.otherMMIO] &+= 1
            return refuse(frame, da, v, d, ipa: ipa, va: va)
        }
        let size = da.accessSize
        let value = frame.x(da.register)
        var result: MMIOResult = .fault
        var output: UInt8? = nil
        var kick: Int? = nil
        var others: UInt64 = 0
        var kind = TrapKind.otherMMIO

        d.withLock { held in
            if let off = offset(ipa, d.gic.distributor, GICv3Layout.distributorSize) {
                kind = TrapKind.gicd
                result = da.isWrite ? held.vgic.writeDistributor(offset: off, size: size, value: value, vcpu: v.index)
                                    : held.vgic.readDistributor(offset: off, size: size)
                others = ListRegisters.takeCrossKicks(held)
            } else if let off = offset(ipa, d.gic.redistributors, d.gic.redistributorsSize) {
                kind = TrapKind.gicr
                result = da.isWrite ? held.vgic.writeRedistributor(offset: off, size: size, value: value, writer: v.index)
                                    : held.vgic.readRedistributor(offset: off, size: size)
                others = ListRegisters.takeCrossKicks(held)
            } else if d.spec.vpl011, let off = offset(ipa, VirtualPL011.base, VirtualPL011.size) {
                kind = TrapKind.uart
                let lineBefore = held.uart.interruptLine
                if da.isWrite {
                    let w = held.uart.write(offset: off, size: size, value: value)
                    result = w.valid ? .handled(0) : .fault
                    output = w.output
                } else if let r = held.uart.read(offset: off, size: size) {
                    result = .handled(r)
                }
                // Most accesses (FR polls, DR writes with TX interrupts masked) leave the
                // line as it was: then there is nothing to tell the vGIC.
                if held.uart.interruptLine != lineBefore {
                    kick = held.vgic.setLine(VirtualPL011.intid, vcpu: 0, high: held.uart.interruptLine)
                }
            }
        }
        v.traps[kind] &+= 1
        if let b = output { ConsoleOutput.write(domain: d.id, b) }
        Scheduler.kick(domain: d, vcpu: kick)
        // Another vCPU's interrupt became deliverable: it may be blocked in WFI.
        ListRegisters.kick(d, others)

        guard case .handled(let r) = result else { return refuse(frame, da, v, d, ipa: ipa, va: va) }
        if !da.isWrite {
            var x = r
            if da.signExtend && size < 8 {
                let shift = UInt64(64 - 8 * size)
                x = UInt64(bitPattern: Int64(bitPattern: x << shift) >> Int64(shift))
            }
            if !da.is64BitRegister { x &= 0xFFFF_FFFF }
            frame.setX(da.register, x)
        }
        frame.skipInstruction()
    }

    /// The guest physical address of a stage-2 abort (data or instruction): HPFAR_EL2's page
    /// number with the faulting address's offset in the page.
    static func faultIPA(va: UInt64) -> UInt64 {
        ((read_hpfar_el2() >> 4) << 12) | (va & 0xFFF)
    }

    static func offset(_ ipa: UInt64, _ base: UInt64, _ size: UInt64) -> UInt64? {
        ipa >= base && ipa - base < size ? ipa - base : nil
    }

    static func refuse(_ frame: UnsafeMutablePointer<apus_frame>, _ da: DataAbort, _ v: VCPU, _ d: Domain, ipa: UInt64, va: UInt64) {
        d.reportOnce(ipa & ~0xFFF) {
            Log.line {
                Log.put("d"); Log.dec(d.id); Log.put("v"); Log.dec(v.index)
                Log.put(da.isWrite ? ": unhandled write to " : ": unhandled read from ")
                Log.hex(ipa); Log.put(" at pc "); Log.hex(frame.pointee.elr); Log.put(", injecting data abort")
            }
        }
        GuestFault.dataAbort(frame, va: va, write: da.isWrite)
    }
}

#endif
