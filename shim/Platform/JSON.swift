import CShim

/// A parsed JSON value; objects keep their member order.
indirect enum JSONValue {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// Member lookup by bytes (no Unicode tables: keys are ASCII).
    subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        for (k, v) in members where k.utf8.elementsEqual(key.utf8) { return v }
        return nil
    }

    var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

struct JSONError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

enum JSON {
    /// Deepest nesting accepted; the shim's documents are three levels deep.
    static let maxDepth = 64

    /// Parses a whole document with yajl. Nesting is bounded by a pre-scan
    /// before yajl builds its tree: yajl frees a tree recursively, so a
    /// million-deep document would overflow the stack in yajl_tree_free.
    static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        if bytes.contains(0) { throw JSONError("NUL byte in document") }
        if nestingDepth(bytes) > maxDepth { throw JSONError("nesting deeper than \(maxDepth) levels") }
        var text = bytes
        text.append(0)
        var errbuf = [CChar](repeating: 0, count: 256)
        let tree: yajl_val? = text.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { cbuf in
                errbuf.withUnsafeMutableBufferPointer { eb in
                    yajl_tree_parse(cbuf.baseAddress, eb.baseAddress, eb.count)
                }
            }
        }
        guard let tree else {
            let msg = errbuf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let first = msg.utf8.split(separator: 0x0a).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            throw JSONError(first.isEmpty ? "parse error" : first)
        }
        defer { yajl_tree_free(tree) }
        return try convert(tree)
    }

    /// The deepest [ / { nesting outside strings (an upper bound of what
    /// yajl would build; malformed input is left to yajl to refuse).
    static func nestingDepth(_ bytes: [UInt8]) -> Int {
        var depth = 0, deepest = 0
        var inString = false, escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == 0x5c { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            switch b {
            case 0x22: inString = true
            case 0x5b, 0x7b:
                depth += 1
                if depth > deepest { deepest = depth }
            case 0x5d, 0x7d: if depth > 0 { depth -= 1 }
            default: break
            }
        }
        return deepest
    }

    private static func convert(_ v: yajl_val) throws(JSONError) -> JSONValue {
        switch v.pointee.type {
        case yajl_t_string: return .string(String(cString: v.pointee.u.string))
        case yajl_t_number:
            let n = v.pointee.u.number
            if n.flags & UInt32(YAJL_NUMBER_INT_VALID) != 0 { return .int(Int64(n.i)) }
            if n.flags & UInt32(YAJL_NUMBER_DOUBLE_VALID) != 0 { return .double(n.d) }
            throw JSONError("number out of range: \(String(cString: n.r))")
        case yajl_t_object:
            let o = v.pointee.u.object
            var members: [(String, JSONValue)] = []
            members.reserveCapacity(o.len)
            for i in 0..<o.len { members.append((String(cString: o.keys[i]!), try convert(o.values[i]!))) }
            return .object(members)
        case yajl_t_array:
            let a = v.pointee.u.array
            var items: [JSONValue] = []
            items.reserveCapacity(a.len)
            for i in 0..<a.len { items.append(try convert(a.values[i]!)) }
            return .array(items)
        case yajl_t_true: return .bool(true)
        case yajl_t_false: return .bool(false)
        case yajl_t_null: return .null
        default: throw JSONError("unknown value type")
        }
    }
}

/// Streams JSON through yajl_gen (UTF-8 validated, compact).
struct JSONWriter: ~Copyable {
    private let gen: yajl_gen

    init() {
        gen = yajl_gen_alloc(nil)
        cs_yajl_gen_configure(gen)
    }

    deinit { yajl_gen_free(gen) }

    func mapOpen() { _ = yajl_gen_map_open(gen) }
    func mapClose() { _ = yajl_gen_map_close(gen) }
    func int(_ i: Int64) { _ = yajl_gen_integer(gen, CLongLong(i)) }
    func uint(_ u: UInt64) {
        if u <= UInt64(Int64.max) { int(Int64(u)); return }
        var digits = Array("\(u)".utf8)
        digits.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in _ = yajl_gen_number(gen, c.baseAddress, c.count) }
        }
    }
    func string(_ bytes: UnsafeRawBufferPointer) {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
        _ = yajl_gen_string(gen, base, bytes.count)
    }
    func string(_ s: String) {
        var s = s
        s.withUTF8 { p in string(UnsafeRawBufferPointer(p)) }
    }
    func key(_ k: String) { string(k) }

    /// The bytes generated; ends the writer.
    consuming func finish() -> [UInt8] {
        var buf: UnsafePointer<UInt8>? = nil
        var len: Int = 0
        guard yajl_gen_get_buf(gen, &buf, &len) == yajl_gen_status_ok, let buf else { return [] }
        return Array(UnsafeBufferPointer(start: buf, count: len))
    }
}
