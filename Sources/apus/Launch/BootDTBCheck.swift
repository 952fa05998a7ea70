import ApusCore
import Foundation

/// The checks `apus run --dtb FILE` makes on a boot DTB it passes on unchanged: the dom0 it
/// describes is read with the hypervisor's own parser (ApusCore Dom0BootSpec, Xen 4.17's
/// bindings), so two dom0 kernels, overlapping modules, a dom0 ramdisk without a kernel or an
/// unparsable dom0_mem are refused before QEMU starts rather than by the hypervisor at boot.
enum BootDTBCheck {
    /// `needsDom0`: the option that needs a dom0 in this DTB (`--disk`), nil when none does.
    static func check(_ path: String, board: Board, needsDom0: String?) throws {
        let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        let dt: DeviceTree
        do { dt = try DeviceTree.parse(bytes) } catch {
            throw ToolFailure.usage("\(path): not a device tree blob (\(error))")
        }
        let spec: Dom0BootSpec?
        let modules: [ApusCore.BootModule]
        do {
            modules = try BootModules.scan(dt)
            spec = try Dom0BootSpec.parse(dt, physicalCPUs: board.cpus)
        } catch {
            throw ToolFailure.usage("\(path): \(error.message)")
        }
        // QEMU's loader would put a module outside RAM into nothing (or refuse it).
        for m in modules where m.range.base < Board.ramBase || m.range.end > board.ramEnd || m.range.end < m.range.base {
            throw ToolFailure.usage("\(path): boot module \(String(decoding: m.path, as: UTF8.self)) is outside the board's RAM "
                                    + "(0x\(String(Board.ramBase, radix: 16))-0x\(String(board.ramEnd, radix: 16)), --memory \(board.memoryMiB))")
        }
        guard let spec else {
            if let option = needsDom0 {
                throw ToolFailure.usage("\(option) needs a dom0, and \(path) describes none "
                                        + "(no multiboot,kernel module outside the xen,domain nodes)")
            }
            return
        }
        // Dom0's RAM is what the dom0less domains, the modules and Apus leave, as in `apus run`'s
        // own plans (Board.hypervisorMiB); Xen's default 512 MiB when dom0_mem is absent.
        let granule = Board.moduleAlignment
        let moduleBytes = modules.reduce(UInt64(0)) { $0 + (($1.range.size + granule - 1) & ~(granule - 1)) }
        var domUBytes: UInt64 = 0
        for d in dt.node(atPath: "/chosen")?.children ?? [] where d.isCompatible(with: "xen,domain") {
            domUBytes += (d.property("memory")?.u64() ?? d.property("memory")?.u32().map(UInt64.init) ?? 0) << 10
        }
        let used = UInt64(Board.hypervisorMiB) << 20 + moduleBytes + domUBytes
        let total = UInt64(board.memoryMiB) << 20
        let free = total > used ? total - used : 0
        let requested = (spec.memory.size(available: free) + granule - 1) & ~(granule - 1)
        if requested > free {
            throw ToolFailure.usage("\(path): \(Dom0BootError.memoryTooLarge(requested: requested, available: free).message) "
                                    + "(the board's \(board.memoryMiB) MiB, --memory, minus \(Board.hypervisorMiB) MiB for Apus, "
                                    + "\(moduleBytes >> 20) MiB of modules and \(domUBytes >> 20) MiB for the domUs)")
        }
    }
}
