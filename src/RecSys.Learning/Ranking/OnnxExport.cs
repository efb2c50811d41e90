using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace RecSys.Learning.Ranking;

/// <summary>
/// Writes rankers as ONNX graphs built node by node with OnnxSharp's protobuf types, so the export is ours.
/// Both take one input, <see cref="InputName"/>: float [N, features] in the model's feature order.
/// </summary>
public static class OnnxExport
{
    public const string InputName = "features";

    /// <summary>MLP output: the raw logit (click log-odds), float [N, 1]; what parity is checked on and calibration reads.</summary>
    public const string LogitOutput = "logit";

    /// <summary>MLP output: sigmoid(logit), float [N, 1], uncalibrated.</summary>
    public const string ProbabilityOutput = "probability";

    /// <summary>Tree ensemble output: the raw LambdaRank score (sum of leaf values), float [N, 1].</summary>
    public const string ScoreOutput = "score";

    private const int FloatType = (int)TensorProto.Types.DataType.Float;

    /// <summary>Gemm (+ Relu) per layer, then Sigmoid beside the logit; opset 17.</summary>
    public static ModelProto FromMlp(MlpModel model, string graphName)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = new GraphProto { Name = graphName };
        graph.Input.Add(TensorInfo(InputName, model.LayerSizes[0]));
        var current = InputName;
        var layers = model.Weights.Length;
        for (var l = 0; l < layers; l++)
        {
            var weightName = $"W{l}";
            var biasName = $"b{l}";
            graph.Initializer.Add(Tensor(weightName, model.Weights[l], model.LayerSizes[l], model.LayerSizes[l + 1]));
            graph.Initializer.Add(Tensor(biasName, model.Biases[l], model.LayerSizes[l + 1]));
            var gemmOut = l == layers - 1 ? LogitOutput : $"dense{l}";
            graph.Node.Add(Node("Gemm", $"gemm{l}", [current, weightName, biasName], gemmOut));
            current = gemmOut;
            if (l < layers - 1)
            {
                graph.Node.Add(Node("Relu", $"relu{l}", [gemmOut], $"relu{l}"));
                current = $"relu{l}";
            }
        }

        graph.Node.Add(Node("Sigmoid", "sigmoid", [LogitOutput], ProbabilityOutput));
        graph.Output.Add(TensorInfo(LogitOutput, 1));
        graph.Output.Add(TensorInfo(ProbabilityOutput, 1));
        return Model(graph, ("", 17));
    }

    /// <summary>
    /// One ai.onnx.ml TreeEnsembleRegressor (opset 3) with SUM aggregation. Splits are BRANCH_LEQ; LightGBM's double
    /// threshold t becomes the largest float f &lt;= t, so for every float input x, x &lt;= f exactly when x &lt;= t.
    /// </summary>
    public static ModelProto FromTrees(GbdtModel model, string graphName)
    {
        ArgumentNullException.ThrowIfNull(model);
        var treeIds = new List<long>();
        var nodeIds = new List<long>();
        var featureIds = new List<long>();
        var modes = new List<ByteString>();
        var values = new List<float>();
        var trueIds = new List<long>();
        var falseIds = new List<long>();
        var targetTreeIds = new List<long>();
        var targetNodeIds = new List<long>();
        var targetWeights = new List<float>();
        var leafMode = ByteString.CopyFromUtf8("LEAF");
        var branchMode = ByteString.CopyFromUtf8("BRANCH_LEQ");
        for (var t = 0; t < model.Trees.Count; t++)
        {
            var tree = model.Trees[t];
            var internalCount = tree.SplitFeature.Length;
            long Id(int child) => child >= 0 ? child : internalCount + ~child;
            for (var n = 0; n < internalCount; n++)
            {
                treeIds.Add(t);
                nodeIds.Add(n);
                featureIds.Add(tree.SplitFeature[n]);
                modes.Add(branchMode);
                values.Add(FloatAtOrBelow(tree.Threshold[n]));
                trueIds.Add(Id(tree.LeftChild[n]));
                falseIds.Add(Id(tree.RightChild[n]));
            }

            for (var leaf = 0; leaf < tree.LeafCount; leaf++)
            {
                treeIds.Add(t);
                nodeIds.Add(internalCount + leaf);
                featureIds.Add(0);
                modes.Add(leafMode);
                values.Add(0);
                trueIds.Add(0);
                falseIds.Add(0);
                targetTreeIds.Add(t);
                targetNodeIds.Add(internalCount + leaf);
                targetWeights.Add((float)tree.LeafValue[leaf]);
            }
        }

        var node = new NodeProto { OpType = "TreeEnsembleRegressor", Domain = "ai.onnx.ml", Name = "trees" };
        node.Input.Add(InputName);
        node.Output.Add(ScoreOutput);
        node.Attribute.Add(Ints("nodes_treeids", treeIds));
        node.Attribute.Add(Ints("nodes_nodeids", nodeIds));
        node.Attribute.Add(Ints("nodes_featureids", featureIds));
        node.Attribute.Add(Floats("nodes_values", values));
        node.Attribute.Add(Ints("nodes_truenodeids", trueIds));
        node.Attribute.Add(Ints("nodes_falsenodeids", falseIds));
        var modeAttribute = new AttributeProto { Name = "nodes_modes", Type = AttributeProto.Types.AttributeType.Strings };
        modeAttribute.Strings.AddRange(modes);
        node.Attribute.Add(modeAttribute);
        node.Attribute.Add(Ints("target_treeids", targetTreeIds));
        node.Attribute.Add(Ints("target_nodeids", targetNodeIds));
        node.Attribute.Add(Ints("target_ids", new long[targetNodeIds.Count]));
        node.Attribute.Add(Floats("target_weights", targetWeights));
        node.Attribute.Add(new AttributeProto { Name = "n_targets", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        node.Attribute.Add(new AttributeProto { Name = "aggregate_function", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("SUM") });
        node.Attribute.Add(new AttributeProto { Name = "post_transform", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("NONE") });

        var graph = new GraphProto { Name = graphName };
        graph.Input.Add(TensorInfo(InputName, model.FeatureNames.Count));
        graph.Output.Add(TensorInfo(ScoreOutput, 1));
        graph.Node.Add(node);
        return Model(graph, ("", 17), ("ai.onnx.ml", 3));
    }

    /// <summary>Serializes to a file (the bytes that the manifest hashes).</summary>
    public static void Save(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        File.WriteAllBytes(path, model.ToByteArray());
    }

    internal static float FloatAtOrBelow(double threshold)
    {
        var f = (float)threshold;
        return f > threshold ? MathF.BitDecrement(f) : f;
    }

    private static ModelProto Model(GraphProto graph, params (string Domain, long Version)[] opsets)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "RecSys.Learning", ProducerVersion = "1", Graph = graph };
        foreach (var (domain, version) in opsets)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }

        return model;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }

    private static TensorProto Tensor(string name, float[] data, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = FloatType };
        tensor.Dims.AddRange(dims);
        // Raw little-endian bytes (what ORT reads fastest); x86-64 and ARM64 hosts are little-endian.
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
        return tensor;
    }

    private static ValueInfoProto TensorInfo(string name, long width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = FloatType, Shape = shape } },
        };
    }

    private static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private static AttributeProto Floats(string name, IEnumerable<float> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }
}
