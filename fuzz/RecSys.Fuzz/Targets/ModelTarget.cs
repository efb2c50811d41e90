using RecSys.Learning.Ranking;
using RecSys.Learning.Registry;

namespace RecSys.Fuzz.Targets;

/// <summary>
/// The model manifest reader and the model registry: the input is written both as a model folder's manifest.json
/// (the folder holds one real file to hash) and as a registry's registry.json (the registry holds one model folder).
/// The manifest is read; the registry is listed, asked for each kind's active version, and every entry is verified
/// against its folder. <see cref="InvalidDataException"/> is their documented refusal.
/// </summary>
internal sealed class ModelTarget : IFuzzTarget
{
    private readonly string _modelFolder;
    private readonly ModelRegistry _registry;

    public ModelTarget(Scratch scratch)
    {
        _modelFolder = scratch.Folder("model");
        File.WriteAllBytes(Path.Combine(_modelFolder, "model.onnx"), [1, 2, 3, 4]);
        _registry = new ModelRegistry(scratch.Folder("registry"));
        var folder = _registry.FolderFor(ModelKinds.Rankers, "v1");
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), [1, 2, 3, 4]);
    }

    public string Name => "model";

    public string Description => "ModelManifest.Read and ModelRegistry (registry.json)";

    public void Run(ReadOnlySpan<byte> input)
    {
        Scratch.Put(Path.Combine(_modelFolder, ModelManifest.FileName), input);
        Scratch.Put(Path.Combine(_registry.Root, ModelRegistry.FileName), input);
        try
        {
            ModelManifest.Read(_modelFolder);
        }
        catch (InvalidDataException)
        {
        }

        try
        {
            var entries = _registry.List();
            foreach (var kind in entries.Select(e => e.Kind).Distinct())
            {
                _registry.GetActive(kind);
            }

            foreach (var entry in entries)
            {
                _registry.Verify(entry);
            }
        }
        catch (InvalidDataException)
        {
        }
    }
}
