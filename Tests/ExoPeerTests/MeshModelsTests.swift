import Testing
@testable import exo_peer

@Suite struct MeshModelsTests {
    static func model(_ id: String, sha: String = "a1b2c3d4e5f60718", size: UInt64 = 98_362_432, layers: Int? = 30) -> StateDocument.Model {
        .init(id: id, sizeBytes: size, sha256: sha, shape: layers.map { .init(architecture: "llama", layerCount: $0) })
    }

    static func snapshot(models: [[StateDocument.Model]], instances: [InstancesDocument.Instance] = []) -> (StateDocument, InstancesDocument) {
        var snapshot = MeshFixture.healthy(nodes: models.count)
        for (index, list) in models.enumerated() { snapshot.state.members[index].record.models = list }
        return (snapshot.state, InstancesDocument(instances: instances, unplaced: [], superseded: []))
    }

    @Test func aModelHeldByTwoNodesIsOneRowWithBothHoldersAndItsInstance() {
        var instance = MeshFixture.instance(runners: ["none"], id: "inst-9")
        instance.model = "smol"
        let (state, instances) = Self.snapshot(models: [[Self.model("smol")], [Self.model("smol"), Self.model("other", layers: nil)], []], instances: [instance])
        let list = MeshModels.list(served: .init(data: [.init(id: "smol"), .init(id: "other")]), state: state, instances: instances)
        #expect(list.map(\.id) == ["other", "smol"])
        let smol = list[1]
        #expect(smol.holders.map(\.node) == [MeshFixture.id(1), MeshFixture.id(2)])
        #expect(smol.sizeBytes == 98_362_432 && smol.sha256 == "a1b2c3d4e5f60718" && !smol.copiesDiffer)
        #expect(smol.layerCount == 30 && smol.instances == ["inst-9"] && smol.servable)
        #expect(list[0].layerCount == nil && list[0].instances.isEmpty)

        let table = MeshModels.render(list).split(separator: "\n").map(String.init)
        #expect(table[0].hasPrefix("MODEL"))
        #expect(table[2].contains("smol") && table[2].contains("30") && table[2].contains("98.4 MB") && table[2].contains("a1b2c3d4e5f6")
                && table[2].contains("11111111,22222222") && table[2].contains("inst-9") && table[2].hasSuffix("yes"))
    }

    @Test func copiesThatDifferUnderOneNameAreFlagged() {
        let (state, instances) = Self.snapshot(models: [[Self.model("smol", sha: "aaaa")], [Self.model("smol", sha: "bbbb")]])
        let list = MeshModels.list(served: .init(data: []), state: state, instances: instances)
        #expect(list.count == 1 && list[0].copiesDiffer && list[0].sha256 == nil && !list[0].servable)
        let table = MeshModels.render(list)
        #expect(table.contains("DIFFERS"))
        #expect(table.contains("warning: nodes hold different files named smol (11111111 aaaa, 22222222 bbbb)"))
    }

    @Test func aHolderThatIsNotAliveIsMarkedAndAServedModelWithoutARecordStillShows() {
        var (state, instances) = Self.snapshot(models: [[], [Self.model("smol")]])
        state.members[1].liveness = "dead"
        let list = MeshModels.list(served: .init(data: [.init(id: "remote-only")]), state: state, instances: instances)
        #expect(list.map(\.id) == ["remote-only", "smol"])
        #expect(list[0].holders.isEmpty && list[0].servable)
        #expect(MeshModels.render(list).contains("22222222(dead)"))
    }

    @Test func anEmptyMeshSaysWhereModelsComeFrom() {
        #expect(MeshModels.render([]).contains("models directory"))
    }
}
