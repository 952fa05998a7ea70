#if hasFeature(Embedded)
import AArch64

@_cdecl("apus_boot_main")
func bootMain(_ dtb: UInt64) -> Never {
    for c in "Apus hello\n".utf8 { mmio_write32(0x0900_0000, UInt32(c)) }
    var x: [Int] = []
    for i in 0..<10 { x.append(i * 3) }
    mmio_write32(0x0900_0000, UInt32(0x30 + x[3] % 10))
    _ = arch_smc(0x8400_0008, 0, 0, 0)
    while true { arch_wfi() }
}
@_cdecl("apus_secondary_main")
func secondaryMain(_ cpu: UInt64) -> Never { while true { arch_wfi() } }
@_cdecl("apus_trap_lower")
func trapLower(_ frame: UnsafeMutablePointer<apus_frame>, _ kind: UInt64) {}
@_cdecl("apus_trap_current")
func trapCurrent(_ frame: UnsafeMutablePointer<apus_frame>, _ kind: UInt64) {}
@_cdecl("apus_out_of_memory")
func outOfMemory(_ n: UInt64) -> Never { while true { arch_wfi() } }
#endif
