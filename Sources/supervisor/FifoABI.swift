import CSupervisor
import Glibc
import Platform
import SupervisorCore
import SystemPackage

private let exitFifoFileName = "exit_fifo"

private func exitFifoPath(_ dir: UnsafePointer<CChar>?) throws(Errno) -> String {
    let directory = try ABI.string(dir)
    let path = directory.utf8.last == UInt8(ascii: "/") ? directory + exitFifoFileName : directory + "/" + exitFifoFileName
    guard path.utf8.count < Int(PATH_MAX) else { throw Errno.fileNameTooLong }
    return path
}

@_cdecl("exit_fifo_name")
public func abi_exit_fifo_name(_ dir: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    do throws(Errno) {
        return ABI.mallocString(try exitFifoPath(dir))
    } catch {
        return ABI.failNull("exit_fifo_name", error)
    }
}

@_cdecl("container_exit_fifo_create")
public func abi_container_exit_fifo_create(_ dir: UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>? {
    let path: String
    do throws(Errno) {
        path = try exitFifoPath(dir)
    } catch {
        return ABI.failNull("container_exit_fifo_create", error, dir.map { String(cString: $0) } ?? "NULL")
    }
    do throws(SystemError) {
        try Fifo.create(at: path, mode: 0o600)
    } catch {
        return ABI.failNull("container_exit_fifo_create", error)
    }
    return ABI.mallocString(path)
}

@_cdecl("container_exit_fifo_open")
public func abi_container_exit_fifo_open(_ path: UnsafePointer<CChar>?) -> Int32 {
    let name: String
    do throws(Errno) { name = try ABI.string(path) } catch {
        return ABI.fail("container_exit_fifo_open", error, path.map { String(cString: $0) } ?? "NULL")
    }
    do throws(SystemError) {
        return try Fifo.openReadEnd(name)
    } catch {
        return ABI.fail("container_exit_fifo_open", error)
    }
}
