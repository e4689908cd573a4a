import Glibc
import SystemPackage
import Testing
@testable import Cleaner

@Suite struct ValidationTests {
    @Test func acceptsSaneValues() throws {
        try TrackedResource.validate(kind: .mount, value: "/var/lib/isulad/mnt/rootfs")
        try TrackedResource.validate(kind: .path, value: "/tmp/x/")
        try TrackedResource.validate(kind: .runtime, value: "/run/runc")
        try TrackedResource.validate(kind: .cgroup, value: "isulad/abc")
        try TrackedResource.validate(kind: .cgroup, value: "abc")
        try TrackedResource.validate(kind: .path, value: "/a/..b/c..")  // not a ".." component
    }

    @Test(arguments: [
        (ResourceKind.mount, "relative/path"), (.path, "x"), (.runtime, "run/runc"),
        (.cgroup, "/sys/fs/cgroup/memory/x"), (.path, "/"), (.path, "//"), (.mount, "/./."),
        (.path, "/tmp/../etc"), (.cgroup, "a/../b"), (.cgroup, ".."), (.cgroup, "."), (.cgroup, "./"),
        (.path, ""), (.cgroup, ""), (.path, "/tmp/a\nb"), (.cgroup, "a\u{7f}"), (.mount, "/x\u{0}y"),
        (.path, "/tmp/.."),
    ])
    func refusesWithEINVAL(kind: ResourceKind, value: String) {
        #expect(throws: Errno.invalidArgument) { try TrackedResource.validate(kind: kind, value: value) }
    }

    @Test func refusesPathMaxWithENAMETOOLONG() throws {
        let long = "/" + String(repeating: "a", count: Int(PATH_MAX) - 1)  // PATH_MAX bytes
        #expect(throws: Errno.fileNameTooLong) { try TrackedResource.validate(kind: .path, value: long) }
        try TrackedResource.validate(kind: .path, value: String(long.dropLast()))
    }

    @Test func cleanerRefusesInvalidRestoredValues() {
        let cleaner = BuiltinCleaner()
        var r = TrackedResource(kind: .path, value: "/")
        #expect(cleaner.release(&r, context: context()).isBlocked)
        var c = TrackedResource(kind: .cgroup, value: ".")
        #expect(cleaner.release(&c, context: context()).isBlocked)
    }
}
