using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RecSys.Core.Contracts;

namespace RecSys.Trainer.Training;

/// <summary>A trained model in memory: ids and row-major vectors of one dimension.</summary>
public sealed record TrainedModel(
    int Dimension,
    IReadOnlyList<string> UserIds,
    float[] UserVectors,
    IReadOnlyList<string> ItemIds,
    float[] ItemVectors,
    int WarmItems,
    float[]? ItemContent,
    int ContentDimension);

/// <summary>The event-time range and counts of the data a model was trained on.</summary>
public sealed record TrainingDataRange(
    string Source,
    DateTimeOffset? From,
    DateTimeOffset? Until,
    DateTimeOffset? FirstEvent,
    DateTimeOffset? LastEvent,
    long EventsRead,
    long Duplicates,
    int Interactions,
    int Users,
    int Items,
    int CatalogueItems);

public sealed record ModelFile(string Name, long Bytes, string Sha256, string Contents);

/// <summary><c>manifest.json</c> of a model folder, written last: a folder with a manifest is complete.</summary>
public sealed record ModelManifest(
    string Format,
    string Version,
    DateTimeOffset CreatedAt,
    TrainingDataRange Data,
    IReadOnlyDictionary<string, string> Parameters,
    string? MetricsSplit,
    IReadOnlyDictionary<string, double>? OfflineMetrics,
    int Dimension,
    int Users,
    int WarmItems,
    int ColdItems,
    double TrainSeconds,
    IReadOnlyList<ModelFile> Files)
{
    public const string FileName = "manifest.json";
    public const string CurrentFormat = "recsys-als-model/1";

    private static readonly JsonSerializerOptions Json = new(JsonDefaults.Options) { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelManifest Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        return JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), Json)
            ?? throw new InvalidDataException($"{path} is empty.");
    }
}

/// <summary>
/// Writes a model folder: <c>user_factors.npy</c>, <c>item_factors.npy</c> (float32, NumPy format so any tool reads them;
/// warm items' ALS factors first, then cold items' projected content vectors), <c>user_ids.txt</c> and <c>item_ids.txt</c>
/// (one id per line, in row order), optionally <c>item_content.npy</c>, and <c>manifest.json</c> with the SHA-256 of each.
/// </summary>
public static class ModelWriter
{
    public static ModelManifest Write(
        string directory,
        TrainedModel model,
        DateTimeOffset createdAt,
        TrainingDataRange data,
        IReadOnlyDictionary<string, string> parameters,
        string? metricsSplit,
        IReadOnlyDictionary<string, double>? metrics,
        double trainSeconds)
    {
        Directory.CreateDirectory(directory);

        // A stale manifest must not describe files being replaced.
        File.Delete(Path.Combine(directory, ModelManifest.FileName));
        var files = new List<ModelFile>
        {
            WriteNpy(directory, "user_factors.npy", model.UserVectors, model.UserIds.Count, model.Dimension, "user factors, rows as in user_ids.txt"),
            WriteNpy(directory, "item_factors.npy", model.ItemVectors, model.ItemIds.Count, model.Dimension,
                $"item vectors, rows as in item_ids.txt: {model.WarmItems} ALS factors, then {model.ItemIds.Count - model.WarmItems} cold items projected from content"),
            WriteLines(directory, "user_ids.txt", model.UserIds, "user ids"),
            WriteLines(directory, "item_ids.txt", model.ItemIds, "item ids"),
        };
        if (model.ItemContent is { } content)
        {
            files.Add(WriteNpy(directory, "item_content.npy", content, model.ItemIds.Count, model.ContentDimension, "unit-length content embeddings, rows as in item_ids.txt"));
        }

        var digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('|', files.Select(f => f.Sha256)))));
        var manifest = new ModelManifest(
            ModelManifest.CurrentFormat,
            $"als-{createdAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}-{digest[..8]}",
            createdAt,
            data,
            parameters,
            metricsSplit,
            metrics,
            model.Dimension,
            model.UserIds.Count,
            model.WarmItems,
            model.ItemIds.Count - model.WarmItems,
            trainSeconds,
            files);
        var temporary = Path.Combine(directory, ModelManifest.FileName + ".tmp");
        File.WriteAllText(temporary, manifest.ToJson());
        File.Move(temporary, Path.Combine(directory, ModelManifest.FileName), overwrite: true);
        return manifest;
    }

    /// <summary>Reads back a float32 2-D .npy written by <see cref="WriteNpy"/>: (rows, columns, values).</summary>
    public static (int Rows, int Columns, float[] Values) ReadNpy(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"{path} is not a .npy file.");
        }

        var headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        var header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        var shape = header[(header.IndexOf("'shape': (", StringComparison.Ordinal) + 10)..];
        shape = shape[..shape.IndexOf(')', StringComparison.Ordinal)];
        var parts = shape.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        var values = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(10 + headerLength)).ToArray();
        return (parts[0], parts[1], values);
    }

    private static ModelFile WriteNpy(string directory, string name, float[] values, int rows, int columns, string contents)
    {
        if (values.Length != (long)rows * columns)
        {
            throw new ArgumentException($"{name}: {values.Length} values for {rows} x {columns}.");
        }

        // NumPy format 1.0: magic, version, header length, a Python dict literal padded so the data starts 64-byte aligned.
        var dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {columns}), }}";
        var padded = dict.PadRight(((10 + dict.Length + 1 + 63) / 64 * 64) - 10 - 1) + "\n";
        var path = Path.Combine(directory, name);
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            file.Write([0x93, .. "NUMPY"u8, 1, 0]);
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)padded.Length);
            file.Write(length);
            file.Write(Encoding.ASCII.GetBytes(padded));
            file.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        }

        return Describe(path, contents);
    }

    private static ModelFile WriteLines(string directory, string name, IReadOnlyList<string> lines, string contents)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllLines(path, lines);
        return Describe(path, contents);
    }

    private static ModelFile Describe(string path, string contents)
    {
        using var stream = File.OpenRead(path);
        return new ModelFile(Path.GetFileName(path), stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)), contents);
    }
}
