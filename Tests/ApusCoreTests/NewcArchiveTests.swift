import Testing
@testable import ApusCore
#if canImport(Foundation)
import Foundation
#endif

private func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct NewcArchiveTests {
    @Test func headerIsByteExact() {
        let h = NewcArchive.header(ino: 1, mode: 0o100755, uid: 0, gid: 0, nlink: 1, mtime: 0x5F5E_1000,
                                   fileSize: 10, rdevMajor: 0, rdevMinor: 0, nameSize: 5)
        #expect(h.count == 110)
        #expect(h == ascii("070701" + "00000001" + "000081ED" + "00000000" + "00000000" + "00000001"
            + "5F5E1000" + "0000000A" + "00000000" + "00000000" + "00000000" + "00000000" + "00000005" + "00000000"))
    }

    @Test func oneFileArchiveIsByteExact() {
        var a = NewcArchive()
        a.addFile("/init", data: ascii("#!/bin/sh\n"), permissions: 0o755)
        let bytes = a.bytes()
        var expected = ascii("070701" + "00000001" + "000081ED" + "00000000" + "00000000" + "00000001"
            + "00000000" + "0000000A" + "00000000" + "00000000" + "00000000" + "00000000" + "00000005" + "00000000")
        expected += ascii("init") + [0, 0]                // 110 + 5 name bytes, padded to 116
        expected += ascii("#!/bin/sh\n") + [0, 0]         // 10 data bytes, padded to 128
        expected += ascii("070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001"
            + "00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000B" + "00000000")
        expected += ascii("TRAILER!!!") + [0, 0, 0, 0]   // 110 + 11 (NUL included), padded to 124
        #expect(bytes == expected)
        #expect(bytes.count == 252)
    }

    @Test func entryKindsParentsAndPadding() {
        var a = NewcArchive(mtime: 7)
        a.addFile("bin/busybox", data: [1, 2, 3])
        a.addSymlink("/bin/sh", target: "busybox")
        a.addCharacterDevice("/dev/console", major: 5, minor: 1)
        a.addDirectory("proc", permissions: 0o555)
        #expect(a.entries.map(\.path) == ["bin", "bin/busybox", "bin/sh", "dev", "dev/console", "proc"])
        #expect(a.entries.map(\.mode) == [0o040755, 0o100644, 0o120777, 0o040755, 0o020600, 0o040555])

        let bytes = a.bytes()
        #expect(bytes.count % 4 == 0)
        // Walk the archive back: every header starts 4-aligned with the magic.
        var offset = 0
        var names: [String] = []
        var fields: [[UInt32]] = []
        while offset < bytes.count {
            #expect(Array(bytes[offset..<offset + 6]) == ascii("070701"))
            var f: [UInt32] = []
            for i in 0..<13 {
                let start = offset + 6 + i * 8
                f.append(UInt32(String(decoding: bytes[start..<start + 8], as: UTF8.self), radix: 16)!)
            }
            let nameSize = Int(f[11]), fileSize = Int(f[6])
            names.append(String(decoding: bytes[(offset + 110)..<(offset + 110 + nameSize - 1)], as: UTF8.self))
            #expect(bytes[offset + 110 + nameSize - 1] == 0)
            fields.append(f)
            let dataStart = (offset + 110 + nameSize + 3) & ~3
            if names.last == "bin/sh" {
                #expect(Array(bytes[dataStart..<dataStart + fileSize]) == ascii("busybox"))
            }
            offset = (dataStart + fileSize + 3) & ~3
        }
        #expect(offset == bytes.count)
        #expect(names == ["bin", "bin/busybox", "bin/sh", "dev", "dev/console", "proc", "TRAILER!!!"])
        #expect(fields.map { $0[0] } == [1, 2, 3, 4, 5, 6, 0])          // ino
        #expect(fields.map { $0[4] } == [2, 1, 1, 2, 1, 2, 1])          // nlink
        #expect(fields.map { $0[5] } == [7, 7, 7, 7, 7, 7, 0])          // mtime
        #expect(fields.map { $0[6] } == [0, 3, 7, 0, 0, 0, 0])          // filesize
        #expect(fields[4][9] == 5 && fields[4][10] == 1)                // /dev/console is 5:1
    }

    @Test func pathsAreNormalised() {
        #expect(NewcArchive.normalized("/a//b/./c/") == "a/b/c")
        #expect(NewcArchive.normalized("./init") == "init")
        #expect(NewcArchive.normalized("init") == "init")
    }

    #if os(Linux) || os(macOS)
    /// Cross-check with GNU cpio, which scripts/setup.sh installs: a missing cpio is a
    /// failure, not a pass, so the archive format is always checked by a second reader.
    @Test func systemCpioReadsIt() throws {
        let cpio = "/usr/bin/cpio"
        try #require(FileManager.default.isExecutableFile(atPath: cpio),
                     "GNU cpio is missing: run scripts/setup.sh (it installs the cpio package)")
        var a = NewcArchive()
        a.addFile("/init", data: ascii("#!/bin/sh\necho hi\n"), permissions: 0o755)
        a.addSymlink("/bin/sh", target: "busybox")
        a.addCharacterDevice("/dev/console", major: 5, minor: 1)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cpio)
        // -tv: ls -l style, so modes, the symlink's target and the device numbers are read back too.
        p.arguments = ["-t", "-v", "--quiet"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        try p.run()
        input.fileHandleForWriting.write(Data(a.bytes()))
        try input.fileHandleForWriting.close()
        let listed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let rows = listed.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.map { $0.last.map(String.init) ?? "" } == ["init", "bin", "busybox", "dev", "dev/console"], "\(listed)")
        #expect(rows.count == 5)
        guard rows.count == 5 else { return }
        #expect(rows[0].first == "-rwxr-xr-x")
        #expect(rows[1].first?.hasPrefix("d") == true)
        #expect(rows[2].first == "lrwxrwxrwx")
        #expect(rows[2].suffix(3).map(String.init) == ["bin/sh", "->", "busybox"])
        #expect(rows[4].first?.hasPrefix("c") == true)
        #expect(listed.contains("5,") && rows[4].contains("1"), "\(listed)")
    }
    #endif
}
