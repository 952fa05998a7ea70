import Foundation

/// What an ELF file puts in memory: enough to report the hypervisor image's size.
struct ELFImage {
    /// Bytes copied from the file (sum of the PT_LOAD segments' file sizes).
    var loadableBytes: UInt64
    /// Lowest and end address of the PT_LOAD segments in memory (file contents plus zeroed bss).
    var start: UInt64
    var end: UInt64

    /// Reads the program headers of a little-endian ELF64 file.
    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ToolFailure("cannot read \(path)")
        }
        let b = [UInt8](data)
        func u(_ offset: Int, _ size: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in (0..<size).reversed() { v = v << 8 | UInt64(b[offset + i]) }
            return v
        }
        guard b.count >= 64, b[0] == 0x7F, b[1] == 0x45, b[2] == 0x4C, b[3] == 0x46, b[4] == 2, b[5] == 1 else {
            throw ToolFailure("\(path) is not a little-endian 64-bit ELF file")
        }
        let phoff = Int(u(0x20, 8)), phentsize = Int(u(0x36, 2)), phnum = Int(u(0x38, 2))
        guard phentsize >= 56, phoff + phnum * phentsize <= b.count else {
            throw ToolFailure("\(path): program headers out of range")
        }
        var loadable: UInt64 = 0, start = UInt64.max, end: UInt64 = 0
        for i in 0..<phnum {
            let h = phoff + i * phentsize
            guard u(h, 4) == 1 else { continue } // PT_LOAD
            let paddr = u(h + 0x18, 8), filesz = u(h + 0x20, 8), memsz = u(h + 0x28, 8)
            loadable += filesz
            start = min(start, paddr)
            end = max(end, paddr + memsz)
        }
        guard start != UInt64.max else { throw ToolFailure("\(path) has no loadable segment") }
        loadableBytes = loadable
        self.start = start
        self.end = end
    }
}
