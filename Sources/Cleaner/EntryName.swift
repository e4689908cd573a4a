
/// A directory entry's name as the kernel gave it: raw bytes, NUL-terminated,
/// so a name that is not valid UTF-8 is still passed back intact.
struct EntryName {
    var bytes: [CChar]

    init(_ bytes: [CChar]) { self.bytes = bytes }
    init(_ s: String) { bytes = Array(s.utf8CString) }

    var display: String {
        String(decoding: bytes.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        bytes.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
