#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The board's free RAM once boot is done (`ChunkPool`, 2 MiB chunks), behind its own lock:
/// the toolstack's domains take their RAM banks from it (ToolstackDomains, under the Xen
/// lock) and the hypervisor's heap grows by it (`apus_heap_grow`, under the heap's lock).
/// The lock is a leaf: nothing under it takes another lock or allocates memory. So what the
/// hypervisor holds is sized by what it runs, as Xen's heap is, and sysctl physinfo's free
/// pages (xl info's free_memory) count it.
enum RAMPool {
    nonisolated(unsafe) private static var pool = ChunkPool(ranges: [])
    nonisolated(unsafe) private static var lock: UInt32 = 0
    /// Set once at boot (before other CPUs start): until then the heap cannot grow.
    nonisolated(unsafe) private static var ready = false
    /// Free RAM the toolstack's domains may not take (ToolstackDomains.setMaxMemory): room
    /// for the heap to grow by what running domains may still make the hypervisor hold
    /// (p2m tables within their budgets, XenStore within its quotas, grant and event
    /// tables), so no guest meets a hypervisor out of memory because dom0 filled the board.
    static let heapReserve: UInt64 = 16 << 20
    /// What the heap has taken from the pool since boot (never given back).
    nonisolated(unsafe) private(set) static var heapGrowth: UInt64 = 0

    static func start(_ free: [PhysicalRange]) {
        pool = ChunkPool(ranges: free)
        ready = true
    }

    @inline(__always)
    static func locked<R>(_ body: (inout ChunkPool) -> R) -> R {
        apus_spin_lock(&lock)
        let r = body(&pool)
        apus_spin_unlock(&lock)
        return r
    }

    static var freeBytes: UInt64 { locked { $0.freeBytes } }

    /// What a new domain can have: the free RAM less the heap's reserve (physinfo's free
    /// pages, xl info's free_memory).
    static var domainFreeBytes: UInt64 {
        let free = freeBytes
        return free > heapReserve ? free - heapReserve : 0
    }

    /// A toolstack domain's RAM bank of `bytes` (whole chunks), leaving the heap's reserve.
    static func allocateForDomain(_ bytes: UInt64) -> PhysicalRange? {
        locked { p -> PhysicalRange? in
            guard p.freeBytes >= bytes &+ heapReserve else { return nil }
            return p.allocate(bytes: bytes)
        }
    }

    /// `bytes` (whole chunks) for the heap: the run's base, or 0.
    static func growHeap(_ bytes: UInt64) -> UInt64 {
        guard ready else { return 0 }
        return locked { p -> UInt64 in
            guard let r = p.allocate(bytes: bytes) else { return 0 }
            heapGrowth &+= r.size
            return r.base
        }
    }
}

@_cdecl("apus_heap_grow")
func apusHeapGrow(_ bytes: UInt64) -> UInt64 { RAMPool.growHeap(bytes) }
#endif
