import Testing
@testable import ApusCore

/// sysctl scheduler_op (`xl sched-credit2 -s [-r ratelimit_us]`): credit2's context-switch
/// rate limit of pool 0, with Xen 4.17's errors (sched_adjust_global, csched2_sys_cntl). The
/// fake platform hands the value to a real `FairScheduler`.
@Suite struct XenSchedulerOpTests {
    typealias L = XenSysctl.SchedulerOp

    /// The sysctl from `dom`: its result, and the struct as the caller sees it afterwards.
    static func schedOp(_ r: XenRig, _ cmd: UInt32, pool: UInt32 = 0, sched: UInt32 = 6, rateLimit: UInt32 = 0,
                        dom: XenDomainID = 1) -> (Int64, UInt32) {
        let (rc, o) = XenControlTests.sysctl(r, XenControlTests.envelope(XenSysctl.size, cmd: XenSysctl.schedulerOp) { b in
            XenBytes.put32(&b, L.cpupoolID, pool)
            XenBytes.put32(&b, L.schedID, sched)
            XenBytes.put32(&b, L.cmd, cmd)
            XenBytes.put32(&b, L.rateLimit, rateLimit)
        }, dom: dom)
        return (rc, XenBytes.u32(o, L.rateLimit))
    }

    @Test func getinfoAnswersXensDefaultOfOneMillisecond() {
        let r = XenControlTests.rig()
        #expect(Self.schedOp(r, L.getInfo, rateLimit: 0xDEAD) == (0, 1000))
    }

    /// putinfo answers the value it set, getinfo the value last put; the scheduler's
    /// timeslice is the longer of its own 10 ms and the rate limit. 0 turns rate limiting off.
    @Test func putinfoSetsTheRateLimitAndTheSchedulerHonoursIt() {
        let r = XenControlTests.rig()
        let s = r.mem.scheduler
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 20_000) == (0, 20_000))
        #expect(Self.schedOp(r, L.getInfo) == (0, 20_000))
        #expect(s.timeslice == 20_000_000, "20 ms in the scheduler's clock (ns here)")
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 500_000) == (0, 500_000), "XEN_SYSCTL_SCHED_RATELIMIT_MAX")
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 100) == (0, 100), "XEN_SYSCTL_SCHED_RATELIMIT_MIN")
        #expect(s.timeslice == 10_000_000, "within the timeslice: nothing to lengthen")
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 0) == (0, 0))
        #expect(Self.schedOp(r, L.getInfo) == (0, 0) && s.timeslice == 10_000_000)
    }

    /// Outside 100...500000 µs: -EINVAL, the rate limit unchanged and nothing copied back.
    @Test func aRateLimitOutOfRangeIsEINVAL() {
        let r = XenControlTests.rig()
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 5000) == (0, 5000))
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 99) == (XenErrno.EINVAL.result, 99))
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 500_001) == (XenErrno.EINVAL.result, 500_001))
        #expect(Self.schedOp(r, L.putInfo, rateLimit: .max) == (XenErrno.EINVAL.result, .max))
        #expect(Self.schedOp(r, L.getInfo) == (0, 5000))
    }

    /// sched_adjust_global's order: the cmd (-EINVAL), the pool (-ESRCH: Apus has pool 0
    /// only), the pool's scheduler (-EINVAL for credit 5, null 7...).
    @Test func anotherCmdPoolOrSchedulerIsRefusedInXensOrder() {
        let r = XenControlTests.rig()
        #expect(Self.schedOp(r, 2).0 == XenErrno.EINVAL.result)
        #expect(Self.schedOp(r, 2, pool: 1).0 == XenErrno.EINVAL.result, "the cmd is checked before the pool")
        #expect(Self.schedOp(r, L.getInfo, pool: 1).0 == XenErrno.ESRCH.result)
        #expect(Self.schedOp(r, L.putInfo, pool: 1, sched: 5, rateLimit: 20_000).0 == XenErrno.ESRCH.result,
                "the pool before its scheduler")
        #expect(Self.schedOp(r, L.getInfo, sched: 5).0 == XenErrno.EINVAL.result, "credit, not credit2")
        #expect(Self.schedOp(r, L.putInfo, sched: 7, rateLimit: 20_000).0 == XenErrno.EINVAL.result, "null")
        #expect(Self.schedOp(r, L.getInfo) == (0, 1000), "nothing was set")
    }

    /// Only the control domain: a domU's get and put are -EPERM and change nothing.
    @Test func aDomUIsRefusedWithEPERM() {
        let r = XenControlTests.rig()
        #expect(Self.schedOp(r, L.getInfo, dom: 2) == (XenErrno.EPERM.result, 0))
        #expect(Self.schedOp(r, L.putInfo, rateLimit: 400_000, dom: 2).0 == XenErrno.EPERM.result)
        #expect(r.mem.scheduler.rateLimitMicroseconds == 1000)
        #expect(Self.schedOp(r, L.getInfo) == (0, 1000))
    }
}
