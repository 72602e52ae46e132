import Foundation

/// Turns `--model NAME|PATH` into a file path: an existing path as is, else a file in
/// `$EXO_HOME/models` (default `~/.exo-peer/models`) by name, with or without `.gguf`.
public enum ModelLocator {
    public struct NotFound: Error, CustomStringConvertible {
        public let name: String
        public let searched: [String]
        public var description: String {
            "no model \(name.debugDescription): looked at \(searched.joined(separator: ", ")); pass a path or put the .gguf file in the models directory"
        }
    }

    public static func modelsDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        (environment["EXO_HOME"] ?? (NSHomeDirectory() + "/.exo-peer")) + "/models"
    }

    public static func resolve(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(NotFound) -> String {
        let dir = modelsDirectory(environment: environment)
        let candidates = [name, dir + "/" + name, dir + "/" + name + ".gguf"]
        for path in candidates where FileManager.default.fileExists(atPath: path) && !path.hasSuffix("/") {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { return path }
        }
        throw NotFound(name: name, searched: candidates)
    }
}
