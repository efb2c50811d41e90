using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RecSys.Learning.Ranking;

/// <summary>An input feature in model input order, with its importance (gain for trees, permutation log-loss increase for MLPs).</summary>
public sealed record ManifestFeature(string Name, double Importance);

/// <summary>A graph input or output: name, element type and shape (-1 for the batch dimension).</summary>
public sealed record ManifestTensor(string Name, string ElementType, IReadOnlyList<long> Shape);

/// <summary>A file stored beside the manifest (path relative to its folder) with its SHA-256 in lower-case hex.</summary>
public sealed record ManifestFile(string Path, string Sha256, long Bytes);

/// <summary>
/// What is needed to serve and audit a model: kind, version, creation time, features in input order with importance,
/// graph inputs and outputs, file hashes and offline metrics. Written as manifest.json beside the .onnx files.
/// </summary>
public sealed record ModelManifest(
    int SchemaVersion,
    string Kind,
    string Version,
    DateTimeOffset CreatedAt,
    IReadOnlyList<ManifestFeature> Features,
    IReadOnlyList<ManifestTensor> Inputs,
    IReadOnlyList<ManifestTensor> Outputs,
    IReadOnlyList<ManifestFile> Files,
    IReadOnlyDictionary<string, double> Metrics)
{
    public const int CurrentSchemaVersion = 1;
    public const string FileName = "manifest.json";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The entry for a file in <paramref name="directory"/>, hashed now.</summary>
    public static ManifestFile Describe(string directory, string relativePath)
    {
        var full = Path.Combine(directory, relativePath);
        using var stream = File.OpenRead(full);
        return new ManifestFile(relativePath, Convert.ToHexStringLower(SHA256.HashData(stream)), stream.Length);
    }

    /// <summary>Validates and writes manifest.json into <paramref name="directory"/> (the files it lists must be there).</summary>
    public void Write(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Validate(this, directory);
        File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, JsonOptions));
    }

    /// <summary>
    /// Reads manifest.json from <paramref name="directory"/> and validates it: schema version, required fields, unique
    /// feature names, the model input's width equal to the feature count, and every listed file present with the
    /// recorded size and SHA-256. Any failure is an <see cref="InvalidDataException"/> saying what is wrong.
    /// </summary>
    public static ModelManifest Read(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"No model manifest at {path}.");
        }

        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Model manifest {path} is not valid JSON for a manifest: {e.Message}", e);
        }

        if (manifest is null)
        {
            throw new InvalidDataException($"Model manifest {path} is empty.");
        }

        Validate(manifest, directory);
        return manifest;
    }

    private static void Validate(ModelManifest m, string directory)
    {
        void Fail(string why) => throw new InvalidDataException($"Model manifest in {directory} is invalid: {why}.");

        if (m.SchemaVersion != CurrentSchemaVersion)
        {
            Fail($"schema version {m.SchemaVersion}, this reader knows {CurrentSchemaVersion}");
        }

        if (string.IsNullOrWhiteSpace(m.Kind) || string.IsNullOrWhiteSpace(m.Version))
        {
            Fail("kind and version are required");
        }

        if (m.CreatedAt == default)
        {
            Fail("createdAt is missing");
        }

        if (m.Features is null || m.Features.Count == 0 || m.Features.Any(f => f is null || string.IsNullOrWhiteSpace(f.Name) || !double.IsFinite(f.Importance)))
        {
            Fail("features must be a non-empty list of named features with finite importance");
        }

        if (m.Features!.Select(f => f.Name).Distinct(StringComparer.Ordinal).Count() != m.Features!.Count)
        {
            Fail("feature names repeat");
        }

        if (m.Inputs is null || m.Inputs.Count == 0 || m.Outputs is null || m.Outputs.Count == 0
            || m.Inputs.Concat(m.Outputs).Any(t => t is null || string.IsNullOrWhiteSpace(t.Name) || t.Shape is null || t.Shape.Count == 0))
        {
            Fail("inputs and outputs must be non-empty lists of named tensors with shapes");
        }

        if (m.Inputs![0].Shape[^1] != m.Features.Count)
        {
            Fail($"input '{m.Inputs[0].Name}' is {m.Inputs[0].Shape[^1]} wide but {m.Features.Count} features are listed");
        }

        if (m.Files is null || m.Files.Count == 0)
        {
            Fail("no files are listed");
        }

        if (m.Metrics is null)
        {
            Fail("metrics are missing");
        }

        var root = Path.GetFullPath(directory);
        foreach (var file in m.Files!)
        {
            if (file is null || string.IsNullOrWhiteSpace(file.Path) || string.IsNullOrWhiteSpace(file.Sha256))
            {
                Fail("a file entry lacks its path or hash");
            }

            var full = Path.GetFullPath(Path.Combine(root, file!.Path));
            if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                Fail($"file '{file.Path}' lies outside the model folder");
            }

            if (!File.Exists(full))
            {
                Fail($"file '{file.Path}' is missing");
            }

            var actual = Describe(root, file.Path);
            if (actual.Bytes != file.Bytes || !string.Equals(actual.Sha256, file.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                Fail($"file '{file.Path}' does not match its recorded size and SHA-256 (recorded {file.Bytes} B {file.Sha256}, found {actual.Bytes} B {actual.Sha256})");
            }
        }
    }
}
