/// Whether a domain gets Xen's PV interfaces (the `/hypervisor` DT node, hypercalls beyond
/// the basics, event channels, grant tables) and XenStore: Xen's dom0less `xen,enhanced`
/// property (docs/misc/arm/device-tree/booting.txt), mirrored by Apus's xl.cfg key `xen_enhanced`.
public enum XenEnhanced: Equatable, Sendable {
    /// No `/hypervisor` node: the guest sees a plain Arm machine (a dom0less domU without the property).
    case disabled
    /// PV interfaces and XenStore (what every xl-created Xen guest on Arm gets).
    case enabled
    /// PV interfaces without XenStore (`xen,enhanced = "no-xenstore"`).
    case noXenstore

    /// Reads a `xen,enhanced` property value: no value means "enabled" (the binding allows the
    /// bare property); otherwise exactly "enabled" or "no-xenstore", with or without the final NUL.
    /// Nil for anything else. (Xen 4.17 silently treats unknown strings as absent; Apus refuses
    /// them, so a typo does not quietly boot a domain without its PV interfaces.)
    public init?(propertyValue v: [UInt8]) {
        if v.isEmpty { self = .enabled; return }
        let end = v[v.count - 1] == 0 ? v.count - 1 : v.count
        if dtBytesEqual(v, 0..<end, "enabled") { self = .enabled }
        else if dtBytesEqual(v, 0..<end, "no-xenstore") { self = .noXenstore }
        else { return nil }
    }

    /// The `xen,enhanced` string that selects this mode; nil for `.disabled` (no property at all).
    public var propertyValue: StaticString? {
        switch self {
        case .disabled: return nil
        case .enabled: return "enabled"
        case .noXenstore: return "no-xenstore"
        }
    }
}
