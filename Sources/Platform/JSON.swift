import CPlatform
import CYajl
import Glibc

/// A JSON document value. Objects keep their key order so that files we
/// rewrite (garbage.json) keep the shape the other program wrote.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
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
    /// Deepest nesting accepted; our documents are three levels deep.
    public static let maxDepth = 64

    /// Parses a whole document. Comments are rejected, as are documents
    /// nested deeper than `maxDepth`.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        if bytes.contains(0) { throw JSONError("NUL byte in document") }
        var errbuf = [CChar](repeating: 0, count: 256)
        let tree: yajl_val? = (bytes + [0]).withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { cbuf in
                errbuf.withUnsafeMutableBufferPointer { eb in
                    yajl_tree_parse(cbuf.baseAddress, eb.baseAddress, eb.count)
                }
            }
        }
        guard let tree else {
            let msg = errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let firstLine = msg.split(whereSeparator: { $0 == "\n" }).first.map(String.init) ?? "parse error"
            throw JSONError(firstLine.isEmpty ? "parse error" : firstLine)
        }
        defer { yajl_tree_free(tree) }
        return try convert(tree, depth: 0)
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private static func convert(_ v: yajl_val, depth: Int) throws(JSONError) -> JSONValue {
        if depth > maxDepth { throw JSONError("nesting deeper than \(maxDepth)") }
        switch v.pointee.type {
        case yajl_t_string:
            return .string(String(cString: v.pointee.u.string))
        case yajl_t_number:
            let n = v.pointee.u.number
            if n.flags & UInt32(YAJL_NUMBER_INT_VALID) != 0 { return .int(Int64(n.i)) }
            if n.flags & UInt32(YAJL_NUMBER_DOUBLE_VALID) != 0 { return .double(n.d) }
            throw JSONError("number out of range: \(String(cString: n.r))")
        case yajl_t_object:
            let o = v.pointee.u.object
            var members: [(String, JSONValue)] = []
            members.reserveCapacity(o.len)
            for i in 0..<o.len {
                let key = String(cString: o.keys[i]!)
                members.append((key, try convert(o.values[i]!, depth: depth + 1)))
            }
            return .object(members)
        case yajl_t_array:
            let a = v.pointee.u.array
            var items: [JSONValue] = []
            items.reserveCapacity(a.len)
            for i in 0..<a.len { items.append(try convert(a.values[i]!, depth: depth + 1)) }
            return .array(items)
        case yajl_t_true: return .bool(true)
        case yajl_t_false: return .bool(false)
        case yajl_t_null: return .null
        default: throw JSONError("unknown value type")
        }
    }

    /// Compact serialization. Strings that are not valid UTF-8 cannot occur
    /// (Swift strings are), so generation only fails on non-finite doubles.
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        let writer = JSONWriter()
        writer.write(value)
        return writer.finish()
    }
}

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
