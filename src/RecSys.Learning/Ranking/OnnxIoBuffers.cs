using Microsoft.ML.OnnxRuntime;

namespace RecSys.Learning.Ranking;

/// <summary>
/// Pre-allocated input (<c>rows x width</c>) and output (<c>rows x 1</c>) arrays of one run shape, with the OrtValues over
/// them bound to a session's <see cref="OnnxExport.InputName"/> input and one output: a run writes the input, runs the
/// binding and reads the output, allocating nothing.
/// </summary>
public sealed class OnnxIoBuffers : IDisposable
{
    private readonly OrtValue _inputValue;
    private readonly OrtValue _outputValue;

    public OnnxIoBuffers(InferenceSession session, string outputName, int rows, int width)
    {
        ArgumentNullException.ThrowIfNull(session);
        Input = new float[rows * width];
        Output = new float[rows];
        _inputValue = OrtValue.CreateTensorValueFromMemory(Input, [rows, width]);
        _outputValue = OrtValue.CreateTensorValueFromMemory(Output, [rows, 1]);
        Binding = session.CreateIoBinding();
        Binding.BindInput(OnnxExport.InputName, _inputValue);
        Binding.BindOutput(outputName, _outputValue);
    }

    public float[] Input { get; }

    public float[] Output { get; }

    public OrtIoBinding Binding { get; }

    public void Dispose()
    {
        Binding.Dispose();
        _inputValue.Dispose();
        _outputValue.Dispose();
    }
}
