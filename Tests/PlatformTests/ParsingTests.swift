import Glibc
import Platform
import Testing

@Suite struct ParsingTests {
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

    // MARK: JSON (issue 9)

    @Test func deepNestingIsRefusedWithoutRecursion() {
        for (open, close) in [("[", "]"), (#"{"a":"#, "}")] {
            let text = String(repeating: open, count: 1_000_000) + "1" + String(repeating: close, count: 1_000_000)
            #expect(throws: JSONError.self) { try JSON.parse(text) }
        }
        let ok = String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)
        #expect((try? JSON.parse(ok)) != nil)
        let over = "[" + ok + "]"
        #expect(throws: JSONError.self) { try JSON.parse(over) }
    }

    @Test(arguments: ["{} // c", "/* c */ {}", "[1,/**/2]", "{} {}", "{}x", "", "[", "\u{0}{}"])
    func commentsAndTrailingDataAreRefused(text: String) {
        #expect(throws: JSONError.self) { try JSON.parse(text) }
    }

    @Test func stringsKeepEveryByteAndNumbersTheirRange() throws {
        let v = try JSON.parse(#"{"a\u0000b":"x\u0000y","big":18446744073709551615,"neg":-9223372036854775808,"d":1.5,"e":1e2}"#)
        #expect(v["a\u{0}b"]?.stringValue == "x\u{0}y")
        #expect(v["big"] == .uint(UInt64.max) && v["big"]?.uint64Value == UInt64.max && v["big"]?.int64Value == nil)
        #expect(v["neg"] == .int(Int64.min) && v["d"] == .double(1.5) && v["e"]?.int64Value == 100)
        #expect(String(decoding: JSON.serialize(v), as: UTF8.self).contains(#""x\u0000y""#))
    }

    @Test func theStreamParserHandsOverListItemsOneByOne() throws {
        var items: [JSONValue] = []
        let parser = JSONStreamParser(streamingItemsOf: "L") { items.append($0) }
        let bytes = Array(#"{"L":[1,[2],{"k":"v"}],"M":[3]}"#.utf8)
        for b in bytes { try [b].withUnsafeBufferPointer { (p) throws(JSONError) in try parser.feed(p) } }
        let root = try parser.finish()
        #expect(items == [.int(1), .array([.int(2)]), .object([("k", .string("v"))])])
        #expect(root == .object([("L", .array([])), ("M", .array([.int(3)]))]))
    }
}
