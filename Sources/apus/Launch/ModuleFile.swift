import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file QEMU loads into board RAM (a kernel, ramdisk or `--module`), checked and sized as
/// QEMU will read it: through symbolic links. FileManager's attributes describe a link
/// itself (lstat), so a kernel given as a link used to be sized by its path's length, the
/// next module was placed on top of it and QEMU refused the overlapping loader blobs.
enum ModuleFile {
    enum Problem: Error, CustomStringConvertible {
        case missing, folder, unreadable, empty, notAFile
        var description: String {
            switch self {
            case .missing: return "no such file"
            case .folder: return "is a folder"
            case .unreadable: return "not readable"
            case .empty: return "is empty"
            case .notAFile: return "not a regular file"
            }
        }
    }

    /// The size of the file `path` names after following every link (stat, not lstat).
    static func size(_ path: String) -> Result<UInt64, Problem> {
        var st = stat()
        guard stat(path, &st) == 0 else { return .failure(.missing) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .failure(.folder)
        case S_IFREG: break
        default: return .failure(.notAFile)
        }
        guard access(path, R_OK) == 0 else { return .failure(.unreadable) }
        guard st.st_size > 0 else { return .failure(.empty) }
        return .success(UInt64(st.st_size))
    }
}
