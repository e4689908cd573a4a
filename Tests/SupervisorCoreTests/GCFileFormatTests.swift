import Cleaner
import Platform
import Testing
@testable import SupervisorCore

@Suite struct GCFileFormatTests {
    @Test func readsWhatISuladWrites() throws {
        // iSulad omits zero-valued keys and writes an empty list as {}.
        #expect(try GCFileFormat.decode(Array("{}".utf8)).entries.isEmpty)
        #expect(try GCFileFormat.decode(Array("{\"GcContainers\":{}}".utf8)).entries.isEmpty)
        #expect(try GCFileFormat.decode(Array("{\"GcContainers\":null}".utf8)).entries.isEmpty)
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"id":"c1","runtime":"lcr","pid":12,"StartTime":345},{"id":"c2"}],"Other":1}
            """.utf8))
        // An entry without a runtime fails the API's validation: refused, kept.
        #expect(doc.entries.map(\.id) == ["c1"])
        #expect(doc.entries[0].info == PidInfo(pid: 12, ppid: 0, startTime: 345, pstartTime: 0))
        #expect(doc.refusedEntries == [.object([("id", .string("c2"))])])
        #expect(doc.unknownTopKeys.map(\.0) == ["Other"])
    }

    @Test func skipsEntriesWithoutAnID() throws {
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"runtime":"runc","pid":3},{"id":""},{"id":"../x"},{"id":"ok","runtime":"runc"}, 7]}
            """.utf8))
        #expect(doc.entries.map(\.id) == ["ok"])
        #expect(doc.rejected.count == 4 && doc.refusedEntries.count == 4)
    }

    @Test(arguments: ["", "nope", "[]", "{\"GcContainers\":3}", "{\"GcContainers\":[", "\u{0}"])
    func damagedDocumentsThrow(text: String) {
        #expect(throws: JSONError.self) { try GCFileFormat.decode(Array(text.utf8)) }
    }

    @Test func writesEveryISuladKeyAndKeepsUnknownOnes() throws {
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"id":"c1","runtime":"runc","pid":5,"Future":{"a":[1,2]}}],"Top":"kept"}
            """.utf8))
        var entry = doc.entries[0]
        entry.resources = [TrackedResource(kind: .mount, value: "/m", busyCount: 2)]
        entry.attempts = 3
        let bytes = GCFileFormat.document(entries: [GCFileFormat.encode(entry)], unknownTopKeys: doc.unknownTopKeys)
        let back = try JSON.parse(bytes)
        let written = try #require(back["GcContainers"].flatMap { v -> JSONValue? in
            if case let .array(items) = v { return items.first }
            return nil
        })
        for key in ["id", "runtime", "pid", "StartTime", "ppid", "PStartTime"] {
            #expect(written[key] != nil, "missing \(key)")
        }
        #expect(written["Future"] == .object([("a", .array([.int(1), .int(2)]))]))
        #expect(back["Top"] == .string("kept"))
        let again = try GCFileFormat.decode(bytes)
        #expect(again.entries[0].resources == entry.resources)
        #expect(again.entries[0].attempts == 3)
    }

    @Test func startTimesAboveInt64SurviveAsNumbers() throws {
        var entry = GCEntry(id: "big", runtime: "runc", info: PidInfo(pid: 1, ppid: 2, startTime: UInt64.max, pstartTime: 7),
                            resources: [])
        entry.attempts = 0
        let text = String(decoding: GCFileFormat.encode(entry), as: UTF8.self)
        #expect(text.contains("\"StartTime\":18446744073709551615"))
        let back = try GCFileFormat.decode(GCFileFormat.document(entries: [GCFileFormat.encode(entry)], unknownTopKeys: []))
        #expect(back.entries.first?.info == entry.info)
    }

    /// Issue 9 item 5: "victim\u0000other" no longer reads as "victim".
    @Test func aNULInAnIDDoesNotReplaceARealEntry() throws {
        let text = """
            {"GcContainers":[{"id":"victim","runtime":"runc","pid":11,"StartTime":5},\
            {"id":"victim\\u0000other","runtime":"kata","pid":22,"StartTime":6}]}
            """
        let doc = try GCFileFormat.decode(Array(text.utf8))
        #expect(doc.entries.count == 1)
        #expect(doc.entries[0].id == "victim" && doc.entries[0].runtime == "runc" && doc.entries[0].info.pid == 11)
        #expect(doc.refusedEntries.count == 1 && doc.rejected == ["entry 1: invalid id"])
        // Written back as read.
        let out = GCFileFormat.document(entries: doc.entries.map { GCFileFormat.encode($0) },
                                        refusedEntries: doc.refusedEntries, unknownTopKeys: [])
        #expect(String(decoding: out, as: UTF8.self).contains(#"{"id":"victim\u0000other","runtime":"kata","pid":22,"StartTime":6}"#))
    }

    @Test(arguments: [
        #"{"id":"a","runtime":""}"#, #"{"id":"a","runtime":"c/../x"}"#, #"{"id":"a","runtime":"./runc"}"#,
        #"{"id":"a","runtime":7}"#, #"{"id":"a","runtime":"runc","pid":4294967307}"#,
        #"{"id":"a","runtime":"runc","pid":-1}"#, #"{"id":"a","runtime":"runc","pid":"11"}"#,
        #"{"id":"a","runtime":"runc","id":"b"}"#,
        #"{"id":"a","runtime":"runc","supervisor_resources":[{"kind":"path","value":"/x/../etc"}]}"#,
        #"{"id":"a","runtime":"runc","supervisor_resources":[{"kind":"path","value":"/"}]}"#,
        #"{"id":"a","runtime":"runc","supervisor_resources":[{"kind":"disk","value":"/x"}]}"#,
        #"{"id":"a","runtime":"runc","supervisor_resources":[{"kind":"cgroup","value":"/abs"}]}"#,
        #"{"id":"a","runtime":"runc","supervisor_resources":{"kind":"path"}}"#,
        #"{"id":"a","runtime":"runc","supervisor_engine_released":1}"#,
    ])
    func entriesFailingTheAPIsValidationAreRefusedAndKept(entry: String) throws {
        let doc = try GCFileFormat.decode(Array(#"{"GcContainers":[\#(entry)]}"#.utf8))
        #expect(doc.entries.isEmpty)
        #expect(doc.refusedEntries.count == 1 && doc.rejected.count == 1)
    }

    @Test func aDuplicateIDIsRefusedNotMerged() throws {
        let doc = try GCFileFormat.decode(Array("""
            {"GcContainers":[{"id":"a","runtime":"runc","pid":1},{"id":"a","runtime":"kata","pid":2}]}
            """.utf8))
        #expect(doc.entries.map(\.runtime) == ["runc"] && doc.entries[0].info.pid == 1)
        #expect(doc.refusedEntries.count == 1)
    }

    @Test func theListIsDecodedInChunks() throws {
        var text = #"{"GcContainers":["#
        for i in 0..<500 { text += (i > 0 ? "," : "") + #"{"id":"c\#(i)","runtime":"runc","pid":\#(i)}"# }
        text += #"],"Top":[1,{"x":null}]}"#
        let bytes = Array(text.utf8)
        let decoder = GCFileFormat.Decoder()
        var i = 0
        while i < bytes.count {
            let n = min(7, bytes.count - i)
            try bytes[i..<(i + n)].withUnsafeBufferPointer { (p) throws(JSONError) in try decoder.feed(p) }
            i += n
        }
        let doc = try decoder.finish()
        #expect(doc.entries.count == 500 && doc.entries[499].id == "c499" && doc.entries[499].info.pid == 499)
        #expect(doc.unknownTopKeys.map(\.0) == ["Top"])
    }

    @Test func deepNestingAndCommentsAreDamage() {
        let deep = #"{"GcContainers":[],"x":"# + String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000) + "}"
        #expect(throws: JSONError.self) { try GCFileFormat.decode(Array(deep.utf8)) }
        #expect(throws: JSONError.self) { try GCFileFormat.decode(Array(#"{"GcContainers":[] /* c */}"#.utf8)) }
    }
}
