using RecSys.Learning.Registry;

namespace RecSys.Learning.Tests.Registry;

public sealed class ModelRegistryTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-registry-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    [Fact]
    public void Register_records_hashes_metadata_and_starts_available()
    {
        var registry = new ModelRegistry(_root);
        var entry = WriteAndRegister(registry, "v1", "weights-1");

        Assert.Equal(ModelState.Available, entry.State);
        Assert.Equal(Path.Combine(ModelKinds.Rankers, "v1"), entry.Folder);
        var file = Assert.Single(entry.Files, f => f.Path == "main/model.bin");
        Assert.Equal(9, file.Bytes);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("weights-1"u8)), file.Sha256);
        Assert.Equal(0.12, entry.OfflineMetrics["ndcg@10"]);
        Assert.Equal("f1", entry.Features[0].Name);
        Assert.Null(registry.GetActive(ModelKinds.Rankers));

        // A second registry object over the same root reads the same document.
        var reread = new ModelRegistry(_root).Get(ModelKinds.Rankers, "v1")!;
        Assert.Equal(entry.Files, reread.Files);
        Assert.Equal(entry.Features, reread.Features);
        Assert.Equal(entry.OfflineMetrics, reread.OfflineMetrics);
        Assert.Equal(entry.RegisteredAt, reread.RegisteredAt);
    }

    [Fact]
    public void A_version_is_registered_once()
    {
        var registry = new ModelRegistry(_root);
        WriteAndRegister(registry, "v1", "a");
        Assert.Throws<InvalidOperationException>(() => registry.Register(Registration("v1")));
    }

    [Fact]
    public void Activate_keeps_one_active_version_and_the_old_one_as_previous()
    {
        var registry = new ModelRegistry(_root);
        WriteAndRegister(registry, "v1", "a");
        WriteAndRegister(registry, "v2", "b");

        registry.Activate(ModelKinds.Rankers, "v1");
        registry.Activate(ModelKinds.Rankers, "v2");

        Assert.Equal("v2", registry.GetActive(ModelKinds.Rankers)!.Version);
        Assert.Equal(ModelState.Previous, registry.Get(ModelKinds.Rankers, "v1")!.State);
        Assert.Single(registry.List(ModelKinds.Rankers), e => e.State == ModelState.Active);
    }

    [Fact]
    public void A_model_whose_files_changed_after_registration_is_not_activated()
    {
        var registry = new ModelRegistry(_root);
        WriteAndRegister(registry, "v1", "a");
        File.WriteAllText(Path.Combine(registry.FolderFor(ModelKinds.Rankers, "v1"), "main", "model.bin"), "tampered");

        var error = Assert.Throws<InvalidDataException>(() => registry.Activate(ModelKinds.Rankers, "v1"));
        Assert.Contains("main/model.bin changed", error.Message, StringComparison.Ordinal);
        Assert.Null(registry.GetActive(ModelKinds.Rankers));
    }

    [Fact]
    public void Failing_the_active_version_rolls_back_to_the_last_previous_one()
    {
        var time = new ManualTime(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var registry = new ModelRegistry(_root, time);
        foreach (var v in new[] { "v1", "v2", "v3" })
        {
            WriteAndRegister(registry, v, v);
            time.Advance(TimeSpan.FromMinutes(1));
            registry.Activate(ModelKinds.Rankers, v);
        }

        var restored = registry.MarkFailed(ModelKinds.Rankers, "v3", "p99 latency 1.4x production");

        Assert.Equal("v2", restored!.Version);
        Assert.Equal("v2", registry.GetActive(ModelKinds.Rankers)!.Version);
        var failed = registry.Get(ModelKinds.Rankers, "v3")!;
        Assert.Equal(ModelState.Failed, failed.State);
        Assert.Equal("p99 latency 1.4x production", failed.Reason);
        Assert.Throws<InvalidOperationException>(() => registry.Activate(ModelKinds.Rankers, "v3"));
    }

    [Fact]
    public void Prune_keeps_the_active_and_the_newest_others_and_deletes_the_rest()
    {
        var time = new ManualTime(DateTimeOffset.Parse("2026-12-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var registry = new ModelRegistry(_root, time);
        foreach (var v in new[] { "v1", "v2", "v3", "v4", "v5" })
        {
            WriteAndRegister(registry, v, v);
            time.Advance(TimeSpan.FromMinutes(1));
        }

        registry.Activate(ModelKinds.Rankers, "v1");
        WriteEmbeddings(registry, "e1");

        var removed = registry.Prune(ModelKinds.Rankers, retain: 2);

        Assert.Equal(["v2", "v3"], removed.Order(StringComparer.Ordinal));
        Assert.Equal(["v1", "v4", "v5"], registry.List(ModelKinds.Rankers).Select(e => e.Version).Order(StringComparer.Ordinal));
        Assert.False(Directory.Exists(registry.FolderFor(ModelKinds.Rankers, "v2")));
        Assert.True(Directory.Exists(registry.FolderFor(ModelKinds.Rankers, "v1")));
        Assert.NotNull(registry.Get(ModelKinds.Embeddings, "e1"));
    }

    [Fact]
    public void Concurrent_registrations_from_many_threads_all_land()
    {
        var registry = new ModelRegistry(_root);
        Parallel.For(0, 16, i => WriteAndRegister(new ModelRegistry(_root), "v" + i, "w" + i));
        Assert.Equal(16, registry.List(ModelKinds.Rankers).Count);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("")]
    public void Unsafe_names_are_refused(string version)
    {
        var registry = new ModelRegistry(_root);
        Assert.ThrowsAny<ArgumentException>(() => registry.FolderFor(ModelKinds.Rankers, version));
    }

    [Fact]
    public void A_corrupt_registry_file_is_a_clear_error()
    {
        Directory.CreateDirectory(_root);
        File.WriteAllText(Path.Combine(_root, ModelRegistry.FileName), "{ not json");
        var error = Assert.Throws<InvalidDataException>(() => new ModelRegistry(_root).List());
        Assert.Contains("not valid", error.Message, StringComparison.Ordinal);
    }

    private static ModelRegistration Registration(string version, string kind = ModelKinds.Rankers) => new(
        kind,
        version,
        DateTimeOffset.Parse("2026-11-30T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture),
        new TrainingRange(null, DateTimeOffset.Parse("2026-11-30T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), 1000),
        [new RegistryFeature("f1", 0.7), new RegistryFeature("f2", 0.3)],
        new Dictionary<string, double> { ["ndcg@10"] = 0.12 });

    private static ModelRegistryEntry WriteAndRegister(ModelRegistry registry, string version, string contents)
    {
        var folder = Path.Combine(registry.FolderFor(ModelKinds.Rankers, version), "main");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "model.bin"), contents);
        return registry.Register(Registration(version));
    }

    private static void WriteEmbeddings(ModelRegistry registry, string version)
    {
        var folder = registry.FolderFor(ModelKinds.Embeddings, version);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "item_factors.npy"), "x");
        registry.Register(Registration(version, ModelKinds.Embeddings));
    }

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
