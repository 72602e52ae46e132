import ArgumentParser

@main
struct ExoPeer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exo-peer",
        abstract: "A leaderless peer-to-peer inference mesh: run it on each machine of a LAN.",
        version: ExoPeerVersion.string,
        subcommands: [NodeCommand.self, StatusCommand.self, DoctorCommand.self, ModelsCommand.self, ChatCommand.self, PlaceCommand.self, GenerateCommand.self, BenchCommand.self, SimCommand.self, RunnerCommand.self],
        defaultSubcommand: NodeCommand.self
    )
}

enum ExoPeerVersion {
    static let string = "0.1.0"
}
