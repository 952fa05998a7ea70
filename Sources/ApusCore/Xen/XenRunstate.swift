/// `struct vcpu_runstate_info` bookkeeping (xen/common/sched/core.c vcpu_runstate_change,
/// vcpu_runstate_get) and the guest-area update of xen/arch/arm/domain.c update_runstate_area.
/// Times are the hypervisor's monotonic nanoseconds (Xen's NOW()).
public struct XenVCPURunstate: Equatable, Sendable {
    public var state: XenRunstate
    public var stateEntryTime: UInt64
    /// Nanoseconds spent in running, runnable, blocked, offline.
    public var time: [UInt64]

    public init(state: XenRunstate = .offline, at now: UInt64 = 0) {
        self.state = state
        self.stateEntryTime = now
        self.time = [0, 0, 0, 0]
    }

    /// vcpu_runstate_change(): charges the time since the last change to the old state.
    /// A clock going backwards charges nothing.
    public mutating func change(to new: XenRunstate, at now: UInt64) {
        if now > stateEntryTime {
            let i = Int(state.rawValue)
            time[i] = time[i] &+ (now - stateEntryTime)
        }
        state = new
        stateEntryTime = now
    }

    /// vcpu_runstate_get(): the current state with the time in it so far included.
    public func snapshot(at now: UInt64) -> XenVCPURunstate {
        var s = self
        if now > stateEntryTime {
            let i = Int(state.rawValue)
            s.time[i] = s.time[i] &+ (now - stateEntryTime)
        }
        return s
    }

    /// The 48-byte guest image, with XEN_RUNSTATE_UPDATE in state_entry_time if `updating`.
    public func encoded(updating: Bool = false) -> [UInt8] {
        typealias L = XenLayout.RunstateInfo
        var b = [UInt8](repeating: 0, count: L.size)
        XenBytes.put32(&b, L.state, state.rawValue)
        XenBytes.put64(&b, L.stateEntryTime, stateEntryTime | (updating ? XenRunstate.updateFlag : 0))
        for i in 0..<4 { XenBytes.put64(&b, L.time + 8 * i, time[i]) }
        return b
    }

    /// update_runstate_area(): writes the area at `gva` (a guest virtual address of the vCPU
    /// `memory` translates for). With VMASST_TYPE_runstate_update_flag the top byte of
    /// state_entry_time is first written with XEN_RUNSTATE_UPDATE set, then the whole
    /// structure (flag still set), then the byte again without the flag; the guest retries
    /// while it sees the flag. Faults are ignored, as in Xen.
    public func writeArea<M: GuestMemory>(at gva: UInt64, updateFlag: Bool, memory: M) {
        let flagByte = gva &+ UInt64(XenLayout.RunstateInfo.stateEntryTime + 7)
        let top = UInt8(truncatingIfNeeded: stateEntryTime >> 56)
        if updateFlag {
            _ = memory.write(flagByte, [top | 0x80])
        }
        _ = memory.write(gva, encoded(updating: updateFlag))
        if updateFlag {
            _ = memory.write(flagByte, [top & 0x7F])
        }
    }
}
