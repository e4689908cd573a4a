import Glibc
import Cleaner
import Platform
import Testing

@Suite struct PlatformParsingTests {
    @Test func parsesMountinfoWithEscapes() {
        let text = """
        36 35 98:0 /mnt1 /mnt\\040with\\011tab\\134x rw,noatime master:1 - ext3 /dev/root rw,errors=continue
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
        garbage line
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory

        """
        let entries = MountInfo.parse(text)
        #expect(entries.count == 3)
        #expect(entries[0].mountPoint == "/mnt with\ttab\\x")
        #expect(entries[0].root == "/mnt1")
        #expect(entries[0].optionalFields == ["master:1"])
        #expect(entries[0].fsType == "ext3" && entries[0].source == "/dev/root")
        #expect(entries[0].major == 98 && entries[0].minor == 0 && entries[0].mountID == 36 && entries[0].parentID == 35)
        #expect(entries[2].optionalFields.isEmpty)
        let h = CgroupFS.hierarchies(in: entries)
        #expect(h.count == 2)
        #expect(h.contains(CgroupHierarchy(mountPoint: "/sys/fs/cgroup/unified", isV2: true, controllers: [])))
        #expect(h.contains(CgroupHierarchy(mountPoint: "/sys/fs/cgroup/memory", isV2: false, controllers: ["memory"])))
    }

    @Test func unescapeLeavesIncompleteEscapesAlone() {
        #expect(MountInfo.unescape("a\\04") == "a\\04")
        #expect(MountInfo.unescape("a\\999b") == "a\\999b")
        #expect(MountInfo.unescape("\\040") == " ")
    }

    @Test func findsThisMachinesHierarchies() throws {
        let h = try CgroupFS.hierarchies()
        #expect(h.contains { $0.isV2 })
        #expect(h.contains { $0.controllers.contains("memory") })
        #expect(h.contains { $0.hasFreezer })
        #expect(Set(h.map(\.mountPoint)).count == h.count)
    }

    @Test func mountIDTellsBindMountsApart() throws {
        let root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(root) }
        let proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(proc) }
        let a = try #require(MountInfo.mountID(ofFD: root))
        let b = try #require(MountInfo.mountID(ofFD: proc))
        #expect(a != b)
    }

    @Test func readsEffectiveCapabilities() {
        let caps = Capabilities.readEffective()
        #expect(caps.has(.sysAdmin))  // the tests run as root
        #expect(caps.has(.kill))
        #expect(!Capabilities.none.has(.sysAdmin))
        #expect(Capabilities([.kill]).has(.kill) && !Capabilities([.kill]).has(.sysAdmin))
    }
}
