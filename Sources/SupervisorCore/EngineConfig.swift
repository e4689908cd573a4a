/// Options and hooks as one immutable snapshot, replaced whenever either
/// changes: a reader (every exit, every GC attempt) retains one object
/// instead of copying each hook closure and option string.
final class EngineConfig: Sendable {
    let options: Options
    let hooks: Hooks

    init(options: Options, hooks: Hooks) {
        self.options = options
        self.hooks = hooks
    }
}
