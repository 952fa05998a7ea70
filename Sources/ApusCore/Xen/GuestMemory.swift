/// How the Xen ABI core reaches guest memory. Both protocols are used only as generic
/// constraints (Embedded Swift has no existentials for them).

/// Hypercall arguments: guest *virtual* addresses of the vCPU the core is acting for
/// (the caller of a hypercall; for runstate updates the vCPU just scheduled in). On Arm,
/// Xen translates these with the guest's stage 1 (AT S12E1R/W) and then the p2m:
/// `copy_from_guest` / `copy_to_guest`. A translation or permission fault returns false
/// and the core answers -EFAULT.
public protocol GuestMemory {
    /// Reads `count` bytes at `gva`; on success `buffer` holds exactly those bytes.
    func read(_ gva: UInt64, into buffer: inout [UInt8], count: Int) -> Bool
    /// Writes `bytes` at `gva`; false if any byte is not writable.
    func write(_ gva: UInt64, _ bytes: [UInt8]) -> Bool
    /// One little-endian word at `gva` (the defaults go through `read`; a hypervisor
    /// implements them with a single translation and load, the common case of a hypercall
    /// argument such as evtchn_send or sched_poll).
    func readU32(_ gva: UInt64) -> UInt32?
    func readU64(_ gva: UInt64) -> UInt64?
}

/// Shared pages (shared_info, vcpu_info, grant frames, granted pages) by guest *physical*
/// address in a given domain. False / nil outside what the domain has mapped.
///
/// The typed and atomic members have defaults built on `read`/`write`; the defaults are not
/// atomic. A hypervisor running guests on other CPUs must override the `fetch*` and
/// `compareExchange32` members with real atomics (LDSETAL, LDCLRAL, CASAL), because the
/// guest changes the same words concurrently (Xen uses guest_test_and_set_bit and cmpxchg).
public protocol GuestPhysicalMemory {
    func read(domain: XenDomainID, _ gpa: UInt64, into buffer: inout [UInt8], count: Int) -> Bool
    func write(domain: XenDomainID, _ gpa: UInt64, _ bytes: [UInt8]) -> Bool

    func load16(domain: XenDomainID, _ gpa: UInt64) -> UInt16?
    func load32(domain: XenDomainID, _ gpa: UInt64) -> UInt32?
    func load64(domain: XenDomainID, _ gpa: UInt64) -> UInt64?
    func store8(domain: XenDomainID, _ gpa: UInt64, _ value: UInt8) -> Bool
    func store64(domain: XenDomainID, _ gpa: UInt64, _ value: UInt64) -> Bool
    /// Atomically ORs `bits` into the 64-bit word at `gpa` (8-byte aligned); returns the old value.
    func fetchOr64(domain: XenDomainID, _ gpa: UInt64, _ bits: UInt64) -> UInt64?
    /// Atomically ANDs `bits` into the 64-bit word at `gpa`; returns the old value.
    func fetchAnd64(domain: XenDomainID, _ gpa: UInt64, _ bits: UInt64) -> UInt64?
    /// Atomic compare-and-swap of the 32-bit word at `gpa` (4-byte aligned); returns the value
    /// found (the swap happened iff it equals `expected`).
    func compareExchange32(domain: XenDomainID, _ gpa: UInt64, expected: UInt32, desired: UInt32) -> UInt32?
    /// GNTTABOP_copy's data: `count` bytes from `from` in `source` to `to` in `dest`, each
    /// range within one page; false (nothing written) unless the source is readable and the
    /// destination writable. The default goes through `read` and `write`; a hypervisor
    /// copies between the two frames directly, as Xen's memcpy between mapped pages.
    func copy(source: XenDomainID, _ from: UInt64, dest: XenDomainID, _ to: UInt64, count: Int) -> Bool
}

extension GuestPhysicalMemory {
    public func copy(source: XenDomainID, _ from: UInt64, dest: XenDomainID, _ to: UInt64, count: Int) -> Bool {
        var bytes: [UInt8] = []
        return read(domain: source, from, into: &bytes, count: count) && bytes.count == count
            && write(domain: dest, to, bytes)
    }
    public func load16(domain: XenDomainID, _ gpa: UInt64) -> UInt16? {
        var b: [UInt8] = []
        guard read(domain: domain, gpa, into: &b, count: 2), b.count == 2 else { return nil }
        return XenBytes.u16(b, 0)
    }
    public func load32(domain: XenDomainID, _ gpa: UInt64) -> UInt32? {
        var b: [UInt8] = []
        guard read(domain: domain, gpa, into: &b, count: 4), b.count == 4 else { return nil }
        return XenBytes.u32(b, 0)
    }
    public func load64(domain: XenDomainID, _ gpa: UInt64) -> UInt64? {
        var b: [UInt8] = []
        guard read(domain: domain, gpa, into: &b, count: 8), b.count == 8 else { return nil }
        return XenBytes.u64(b, 0)
    }
    public func store8(domain: XenDomainID, _ gpa: UInt64, _ value: UInt8) -> Bool {
        write(domain: domain, gpa, [value])
    }
    public func store64(domain: XenDomainID, _ gpa: UInt64, _ value: UInt64) -> Bool {
        var b = [UInt8](repeating: 0, count: 8)
        XenBytes.put64(&b, 0, value)
        return write(domain: domain, gpa, b)
    }
    public func fetchOr64(domain: XenDomainID, _ gpa: UInt64, _ bits: UInt64) -> UInt64? {
        guard let old = load64(domain: domain, gpa), store64(domain: domain, gpa, old | bits) else { return nil }
        return old
    }
    public func fetchAnd64(domain: XenDomainID, _ gpa: UInt64, _ bits: UInt64) -> UInt64? {
        guard let old = load64(domain: domain, gpa), store64(domain: domain, gpa, old & bits) else { return nil }
        return old
    }
    public func compareExchange32(domain: XenDomainID, _ gpa: UInt64, expected: UInt32, desired: UInt32) -> UInt32? {
        guard let old = load32(domain: domain, gpa) else { return nil }
        if old == expected {
            var b = [UInt8](repeating: 0, count: 4)
            XenBytes.put32(&b, 0, desired)
            guard write(domain: domain, gpa, b) else { return nil }
        }
        return old
    }
}

extension GuestMemory {
    /// Reads a whole structure of `size` bytes (copy_from_guest); nil on fault.
    func readStruct(_ gva: UInt64, size: Int) -> [UInt8]? {
        var b: [UInt8] = []
        guard read(gva, into: &b, count: size), b.count == size else { return nil }
        return b
    }
    public func readU32(_ gva: UInt64) -> UInt32? {
        readStruct(gva, size: 4).map { XenBytes.u32($0, 0) }
    }
    public func readU64(_ gva: UInt64) -> UInt64? {
        readStruct(gva, size: 8).map { XenBytes.u64($0, 0) }
    }
    func writeU16(_ gva: UInt64, _ v: UInt16) -> Bool {
        write(gva, [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)])
    }
    func writeU64(_ gva: UInt64, _ v: UInt64) -> Bool {
        var b = [UInt8](repeating: 0, count: 8)
        XenBytes.put64(&b, 0, v)
        return write(gva, b)
    }
}

/// Little-endian field access in structure images. Offsets come from `XenLayout` and are
/// only used on buffers of the structure's full size.
enum XenBytes {
    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 {
        UInt16(b[o]) | UInt16(b[o + 1]) << 8
    }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 {
        UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32
    }
    static func put16(_ b: inout [UInt8], _ o: Int, _ v: UInt16) {
        b[o] = UInt8(truncatingIfNeeded: v)
        b[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
    }
    static func put32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) {
        for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }
    static func put64(_ b: inout [UInt8], _ o: Int, _ v: UInt64) {
        for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
    /// `bytes` NUL-padded (and truncated, keeping a final NUL) to `size`, like safe_strcpy into a zeroed buffer.
    static func cString(_ bytes: [UInt8], size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        let n = min(bytes.count, size - 1)
        for i in 0..<n { out[i] = bytes[i] }
        return out
    }
}
