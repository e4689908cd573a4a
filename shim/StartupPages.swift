import CPlatform
import Glibc
import Platform

/// Gives back the pages of the shim's own binary that start-up faulted in.
/// A shim then waits for days touching a few functions; the rest of what
/// start-up mapped (~2 MB of runtime code, scattered over the 4 MB .text)
/// would stay in every shim's RSS and PSS. Only segments that are never
/// written are dropped (text, read-only headers and metadata): their pages
/// are the file's, so MADV_DONTNEED just unmaps them and a later access
/// maps them again from the page cache. Writable segments (data, the relro
/// GOT) hold private state and are left alone.
enum StartupPages {
    static func release() {
        // The program headers, from the aux vector (getauxval is not in the
        // Glibc module): (type, value) u64 pairs; AT_PHDR 3, AT_PHNUM 5.
        let fd = cp_open("/proc/self/auxv", O_RDONLY, 0)
        guard fd >= 0 else { return }
        let auxv = try? FileIO.readAll(fd, limit: 4096)
        close(fd)
        guard let auxv else { return }
        var phdr: UInt = 0
        var count = 0
        auxv.withUnsafeBytes { p in
            for i in stride(from: 0, to: p.count - 15, by: 16) {
                let type = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let value = p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
                if type == 3 { phdr = UInt(value) }
                if type == 5 { count = Int(truncatingIfNeeded: value) }
            }
        }
        guard phdr != 0, count > 0, count < 64,
              let base = UnsafeRawPointer(bitPattern: phdr) else { return }
        // Elf64_Phdr: p_type u32, p_flags u32, p_offset, p_vaddr, p_paddr,
        // p_filesz, p_memsz, p_align (u64 each): 56 bytes.
        let size = 56
        var bias: UInt = 0
        for i in 0..<count where base.load(fromByteOffset: i * size, as: UInt32.self) == 6 { // PT_PHDR
            bias = phdr &- UInt(base.load(fromByteOffset: i * size + 16, as: UInt64.self))
        }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        for i in 0..<count {
            let type = base.load(fromByteOffset: i * size, as: UInt32.self)
            let flags = base.load(fromByteOffset: i * size + 4, as: UInt32.self)
            guard type == 1, flags & 2 == 0 else { continue } // PT_LOAD, not PF_W
            let vaddr = UInt(base.load(fromByteOffset: i * size + 16, as: UInt64.self)) &+ bias
            let memsz = UInt(base.load(fromByteOffset: i * size + 40, as: UInt64.self))
            let start = vaddr & ~(page - 1)
            let end = (vaddr + memsz + page - 1) & ~(page - 1)
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED)
        }
    }
}
