import CPlatform
import CYajl
import Glibc

/// A JSON document value. Objects keep their key order so that files we
/// rewrite (garbage.json) keep the shape the other program wrote.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// Integers above Int64.max (unsigned start times).
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.uint(x), .uint(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// Integers, and doubles that hold an exact integer (iSulad writes some
    /// numbers through a double path).
    public var int64Value: Int64? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// Non-negative integers, up to UInt64.max.
    public var uint64Value: UInt64? {
        switch self {
        case let .uint(u): return u
        case let .int(i) where i >= 0: return UInt64(i)
        default: return int64Value.flatMap { $0 >= 0 ? UInt64($0) : nil }
        }
    }

    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }
}

public struct JSONError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum JSON {
    /// Deepest nesting of arrays and objects accepted; our documents are
    /// five levels deep (garbage.json: root, list, entry, resources, resource).
    public static let maxDepth = 64

    /// Parses a whole document with `JSONStreamParser`: comments, NUL
    /// bytes, trailing data and nesting deeper than `maxDepth` are refused.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        let parser = JSONStreamParser()
        try bytes.withUnsafeBufferPointer { (p) throws(JSONError) in try parser.feed(p) }
        return try parser.finish()
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact serialization. Strings that are not valid UTF-8 cannot occur
    /// (Swift strings are), so generation only fails on non-finite doubles.
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        let writer = JSONWriter()
        writer.write(value)
        return writer.finish()
    }
}

/// yajl's event parser building `JSONValue`s with an explicit stack, so no
/// input shape recurses (yajl_tree_parse/free recurse once per level: a file
/// nested a million deep overflowed the stack). Depth is bounded as the
/// input arrives; bytes may be fed in chunks. Strings keep every byte (a
/// `\u0000` stays in the string, where validation refuses it, instead of
/// ending it). Comments are refused (yajl_allow_comments stays off).
///
/// With `streamingItemsOf`, the elements of the array under that top-level
/// key are handed to `onItem` one at a time as each completes and are not
/// kept (the key itself remains, holding an empty array): a large list costs
/// one element of memory, not the whole tree.
public final class JSONStreamParser {
    struct Frame {
        var isObject: Bool
        var streaming = false
        var items: [JSONValue] = []
        var members: [(String, JSONValue)] = []
        var key: String?
    }

    let maxDepth: Int
    let streamKey: String?
    let onItem: ((JSONValue) -> Void)?
    var stack: [Frame] = []
    var root: JSONValue?
    /// Why a callback stopped the parse.
    var failure: String?
    private var handle: yajl_handle?

    public init(maxDepth: Int = JSON.maxDepth, streamingItemsOf key: String? = nil,
                onItem: ((JSONValue) -> Void)? = nil) {
        self.maxDepth = maxDepth
        self.streamKey = onItem == nil ? nil : key
        self.onItem = onItem
        handle = yajl_alloc(jsonCallbacks, nil, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { if let handle { yajl_free(handle) } }

    public func feed(_ chunk: UnsafeBufferPointer<UInt8>) throws(JSONError) {
        guard let handle else { throw JSONError("out of memory") }
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        if memchr(base, 0, chunk.count) != nil { throw JSONError("NUL byte in document") }
        try check(yajl_parse(handle, base, chunk.count), chunk)
    }

    /// Ends the input; the document (with streamed items left out).
    public func finish() throws(JSONError) -> JSONValue {
        guard let handle else { throw JSONError("out of memory") }
        try check(yajl_complete_parse(handle), nil)
        guard let root else { throw JSONError("empty document") }
        return root
    }

    private func check(_ status: yajl_status, _ chunk: UnsafeBufferPointer<UInt8>?) throws(JSONError) {
        if status == yajl_status_ok { return }
        if let failure { throw JSONError(failure) }
        guard let handle else { throw JSONError("parse error") }
        let text = yajl_get_error(handle, 0, chunk?.baseAddress, chunk?.count ?? 0)
        defer { if let text { yajl_free_error(handle, text) } }
        let msg = text.map { String(cString: $0) } ?? "parse error"
        let firstLine = msg.split(whereSeparator: { $0 == "\n" }).first.map(String.init) ?? ""
        throw JSONError(firstLine.isEmpty ? "parse error" : firstLine)
    }

    // MARK: events (return false to stop the parse)

    func value(_ v: JSONValue) -> Bool {
        guard let i = stack.indices.last else {
            root = v
            return true
        }
        if stack[i].isObject {
            stack[i].members.append((stack[i].key ?? "", v))
            stack[i].key = nil
        } else if stack[i].streaming {
            onItem?(v)
        } else {
            stack[i].items.append(v)
        }
        return true
    }

    func open(object: Bool) -> Bool {
        guard stack.count < maxDepth else {
            failure = "nesting deeper than \(maxDepth)"
            return false
        }
        var frame = Frame(isObject: object)
        if !object, let streamKey, stack.count == 1, stack[0].isObject, stack[0].key == streamKey {
            frame.streaming = true
        }
        stack.append(frame)
        return true
    }

    func close() -> Bool {
        guard let frame = stack.popLast() else { return false }
        return value(frame.isObject ? .object(frame.members) : .array(frame.items))
    }

    func key(_ k: String) -> Bool {
        guard let i = stack.indices.last else { return false }
        stack[i].key = k
        return true
    }

    /// yajl hands numbers over as text: Int64 when it fits, else UInt64
    /// (start times are unsigned), else a finite double.
    func number(_ text: String) -> Bool {
        let integral = !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        if integral, let i = Int64(text) { return value(.int(i)) }
        if integral, let u = UInt64(text) { return value(.uint(u)) }
        let d = strtod(text, nil)
        guard d.isFinite else {
            failure = "number out of range: \(text)"
            return false
        }
        return value(.double(d))
    }
}

private func parser(_ ctx: UnsafeMutableRawPointer?) -> JSONStreamParser {
    Unmanaged<JSONStreamParser>.fromOpaque(ctx!).takeUnretainedValue()
}

private func text(_ p: UnsafePointer<UInt8>?, _ n: Int) -> String {
    guard let p, n > 0 else { return "" }
    // yajl has validated the UTF-8 (yajl_dont_validate_strings is off).
    return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
}

/// One callback table for every parser (yajl keeps the pointer).
nonisolated(unsafe) private let jsonCallbacks: UnsafeMutablePointer<yajl_callbacks> = {
    let cb = UnsafeMutablePointer<yajl_callbacks>.allocate(capacity: 1)
    cb.initialize(to: yajl_callbacks(
        yajl_null: { parser($0).value(.null) ? 1 : 0 },
        yajl_boolean: { parser($0).value(.bool($1 != 0)) ? 1 : 0 },
        yajl_integer: nil,
        yajl_double: nil,
        yajl_number: { ctx, s, n in
            guard let s else { return 0 }
            let t = String(decoding: UnsafeRawBufferPointer(start: s, count: n), as: UTF8.self)
            return parser(ctx).number(t) ? 1 : 0
        },
        yajl_string: { parser($0).value(.string(text($1, $2))) ? 1 : 0 },
        yajl_start_map: { parser($0).open(object: true) ? 1 : 0 },
        yajl_map_key: { parser($0).key(text($1, $2)) ? 1 : 0 },
        yajl_end_map: { parser($0).close() ? 1 : 0 },
        yajl_start_array: { parser($0).open(object: false) ? 1 : 0 },
        yajl_end_array: { parser($0).close() ? 1 : 0 }))
    return cb
}()

/// Streams JSON through yajl_gen. Used directly when building a document
/// from parts (GC entries are kept pre-serialized).
public struct JSONWriter: ~Copyable {
    private let gen: yajl_gen

    public init() {
        gen = yajl_gen_alloc(nil)
        cp_yajl_gen_configure(gen)
    }

    deinit { yajl_gen_free(gen) }

    public func mapOpen() { _ = yajl_gen_map_open(gen) }
    public func mapClose() { _ = yajl_gen_map_close(gen) }
    public func arrayOpen() { _ = yajl_gen_array_open(gen) }
    public func arrayClose() { _ = yajl_gen_array_close(gen) }
    public func null() { _ = yajl_gen_null(gen) }
    public func bool(_ b: Bool) { _ = yajl_gen_bool(gen, b ? 1 : 0) }
    public func int(_ i: Int64) { _ = yajl_gen_integer(gen, CLongLong(i)) }
    /// Unsigned values above Int64.max are written as their decimal digits.
    public func uint(_ u: UInt64) {
        if u <= UInt64(Int64.max) { int(Int64(u)); return }
        let digits = Array(String(u).utf8)
        digits.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in _ = yajl_gen_number(gen, c.baseAddress, c.count) }
        }
    }
    public func double(_ d: Double) {
        if d.isFinite { _ = yajl_gen_double(gen, d) } else { null() }
    }
    public func string(_ s: String) {
        var s = s
        s.withUTF8 { p in _ = yajl_gen_string(gen, p.baseAddress ?? UnsafePointer(bitPattern: 1)!, p.count) }
    }
    public func key(_ k: String) { string(k) }

    public func write(_ value: JSONValue) {
        switch value {
        case .null: null()
        case let .bool(b): bool(b)
        case let .int(i): int(i)
        case let .uint(u): uint(u)
        case let .double(d): double(d)
        case let .string(s): string(s)
        case let .array(items):
            arrayOpen()
            for item in items { write(item) }
            arrayClose()
        case let .object(members):
            mapOpen()
            for (k, v) in members {
                key(k)
                write(v)
            }
            mapClose()
        }
    }

    /// The bytes generated so far; ends the writer.
    public consuming func finish() -> [UInt8] {
        var out: [UInt8] = []
        var buf: UnsafePointer<UInt8>? = nil
        var len: Int = 0
        if yajl_gen_get_buf(gen, &buf, &len) == yajl_gen_status_ok, let buf {
            out = Array(UnsafeBufferPointer(start: buf, count: len))
        }
        return out
    }
}
