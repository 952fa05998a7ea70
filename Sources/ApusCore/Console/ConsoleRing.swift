/// The hypervisor's own console lines kept for the control domain, as Xen's conring
/// (xen/drivers/char/console.c): a ring of `size` bytes (a power of two) with free-running
/// 32-bit producer and consumer counts. Writing past a full ring drops the oldest bytes.
/// `xl dmesg` reads it with sysctl readconsole (`read`): incrementally from an index it
/// remembers, and optionally clearing what it read. No allocation after init, so a line
/// can be recorded from any path that prints, the out-of-memory report included.
public struct ConsoleRing: Sendable {
    public let size: UInt32
    private var bytes: [UInt8]
    /// Oldest byte still held, and one past the newest (both count from the first byte ever).
    public private(set) var consumer: UInt32 = 0
    public private(set) var producer: UInt32 = 0

    /// Xen's default conring is 16 KiB.
    public init(size: UInt32 = 16 * 1024) {
        var s: UInt32 = 1024
        while s < size && s < 1 << 24 { s <<= 1 }
        self.size = s
        bytes = [UInt8](repeating: 0, count: Int(s))
    }

    /// A ring whose counts start at `start` (tests: the wrap of the 32-bit counts).
    init(size: UInt32, startingAt start: UInt32) {
        self.init(size: size)
        consumer = start
        producer = start
    }

    public mutating func append(_ b: UInt8) {
        bytes[Int(producer & (size - 1))] = b
        producer &+= 1
        if producer &- consumer > size { consumer = producer &- size }
    }

    /// XEN_SYSCTL_readconsole: at most `max` bytes from the oldest held (or, when
    /// `incremental` and `index` lies in the held window, from `index`), the index after
    /// the last byte returned; with `clear`, what was returned is dropped from the ring.
    public mutating func read(index: UInt32, max: UInt32, incremental: Bool, clear: Bool) -> (bytes: [UInt8], next: UInt32) {
        var c = consumer
        let p = producer
        // Xen's window test, written for counts that wrap at 2^32.
        if incremental && (c <= p ? (c < index && index <= p) : (c < index || index <= p)) { c = index }
        let n = min(p &- c, max)
        var out: [UInt8] = []
        out.reserveCapacity(Int(n))
        var i: UInt32 = 0
        while i < n {
            out.append(bytes[Int((c &+ i) & (size - 1))])
            i &+= 1
        }
        c &+= n
        if clear { consumer = p &- c > size ? p &- size : c }
        return (out, c)
    }
}
