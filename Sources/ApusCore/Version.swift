/// Apus identifies itself like Xen does: a major.minor it is compatible with, plus its own.
public enum ApusVersion {
    public static let name = "Apus"
    public static let xenMajor = 4
    public static let xenMinor = 17
    public static let version = "0.1.0"
}
