using RecSys.Learning.Registry;

namespace RecSys.Learning.Tests.Registry;

/// <summary>
/// Regression tests from fuzzing registry.json (fuzz/RecSys.Fuzz, target model): entries missing a property the code
/// relied on (folder, files, a file's path or hash) crashed listing or verification with a null reference, and a folder
/// pointing outside the registry was trusted. Each must now be an <see cref="InvalidDataException"/> naming the entry.
/// </summary>
public sealed class RegistryFileHostileInputTests : IDisposable
{
    private const string Hash = "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a";

    private const string ValidEntry =
        """{"kind":"rankers","version":"v1","folder":"rankers/v1","createdAt":"2026-04-01T00:00:00Z","registeredAt":"2026-04-01T00:00:01Z","data":{"from":"2026-01-01T00:00:00Z","until":null,"examples":10},"features":[{"name":"a","importance":1}],"offlineMetrics":{"auc":0.7},"files":[{"path":"model.onnx","bytes":4,"sha256":"HASH"}],"state":"Active","activatedAt":"2026-04-01T00:00:02Z","reason":null}""";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "recsys-registry-hostile-" + Guid.NewGuid().ToString("N"));

    public RegistryFileHostileInputTests()
    {
        var folder = Path.Combine(_root, "rankers", "v1");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), [1, 2, 3, 4]);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private ModelRegistry WithEntries(params string[] entries)
    {
        var json = $$"""{"schemaVersion":1,"entries":[{{string.Join(",", entries)}}]}""".Replace("HASH", Hash, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(_root, ModelRegistry.FileName), json);
        return new ModelRegistry(_root);
    }

    [Fact]
    public void The_valid_entry_lists_and_verifies()
    {
        var registry = WithEntries(ValidEntry);
        var entry = Assert.Single(registry.List());
        Assert.Empty(registry.Verify(entry));
        Assert.Equal("v1", registry.GetActive("rankers")!.Version);
    }

    // The fuzzer's crashing inputs were this entry with one property name mangled, so that its value was missing.
    [Theory]
    [InlineData("\"folder\"", "\"fo&der\"")]
    [InlineData("\"files\"", "\"filgs\"")]
    [InlineData("\"path\"", "\"oath\"")]
    [InlineData("\"sha256\"", "\"sga256\"")]
    [InlineData("\"features\"", "\"featurex\"")]
    [InlineData("\"offlineMetrics\"", "\"offlineMetrscs\"")]
    [InlineData("\"data\"", "\"datM\"")]
    [InlineData("\"kind\"", "\"kinf\"")]
    public void An_entry_missing_a_property_is_refused_by_name(string property, string mangled)
    {
        var registry = WithEntries(ValidEntry.Replace(property, mangled, StringComparison.Ordinal));
        var error = Assert.Throws<InvalidDataException>(() => registry.List());
        Assert.Contains("entry 0", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"folder\":\"rankers/v1\"", "\"folder\":\"../outside\"")]
    [InlineData("\"folder\":\"rankers/v1\"", "\"folder\":\"/\"")]
    [InlineData("\"sha256\":\"HASH\"", "\"sha256\":\"9f64\"")]
    [InlineData("\"state\":\"Active\"", "\"state\":42")]
    [InlineData("\"version\":\"v1\"", "\"version\":\"../v1\"")]
    public void An_entry_with_a_malformed_value_is_refused(string original, string replacement)
    {
        var registry = WithEntries(ValidEntry.Replace(original, replacement, StringComparison.Ordinal));
        Assert.Throws<InvalidDataException>(() => registry.List());
    }

    [Fact]
    public void A_null_or_repeated_entry_is_refused()
    {
        Assert.Contains("null", Assert.Throws<InvalidDataException>(() => WithEntries("null").List()).Message, StringComparison.Ordinal);
        Assert.Contains("twice", Assert.Throws<InvalidDataException>(() => WithEntries(ValidEntry, ValidEntry).List()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pruning_never_deletes_a_folder_named_by_a_hostile_entry()
    {
        var outside = Path.Combine(_root, "..", Path.GetFileName(_root) + "-outside");
        Directory.CreateDirectory(outside);
        try
        {
            var hostile = ValidEntry.Replace("\"folder\":\"rankers/v1\"", $"\"folder\":\"../{Path.GetFileName(outside)}\"", StringComparison.Ordinal)
                .Replace("\"state\":\"Active\"", "\"state\":\"Previous\"", StringComparison.Ordinal);
            Assert.Throws<InvalidDataException>(() => WithEntries(hostile).Prune("rankers", 0));
            Assert.True(Directory.Exists(outside));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }
}
