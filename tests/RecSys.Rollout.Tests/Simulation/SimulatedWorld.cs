namespace RecSys.Rollout.Tests.Simulation;

/// <summary>
/// A generated population with planted tastes: users are unit vectors, items standard-normal vectors, so the true
/// affinity of any user for a random item is exactly N(0, 1). A user clicks a shown item with probability
/// sigmoid(<see cref="ClickBias"/> + <see cref="ClickWeight"/> x affinity): a model that shows higher-affinity items earns more clicks.
/// </summary>
internal sealed class SimulatedWorld
{
    public const double ClickBias = -2.2;
    public const double ClickWeight = 0.8;

    private readonly float[] _users;
    private readonly float[] _items;

    public SimulatedWorld(int users, int items, int dimensions, int seed)
    {
        UserCount = users;
        ItemCount = items;
        Dimensions = dimensions;
        var random = new Random(seed);
        _users = new float[users * dimensions];
        _items = new float[items * dimensions];
        for (var i = 0; i < _items.Length; i++)
        {
            _items[i] = (float)Gaussian(random);
        }

        for (var u = 0; u < users; u++)
        {
            var taste = _users.AsSpan(u * dimensions, dimensions);
            double norm = 0;
            for (var d = 0; d < dimensions; d++)
            {
                taste[d] = (float)Gaussian(random);
                norm += taste[d] * taste[d];
            }

            var scale = (float)(1 / Math.Sqrt(norm));
            for (var d = 0; d < dimensions; d++)
            {
                taste[d] *= scale;
            }
        }
    }

    public int UserCount { get; }
    public int ItemCount { get; }
    public int Dimensions { get; }

    public double Affinity(int user, int item)
    {
        var taste = _users.AsSpan(user * Dimensions, Dimensions);
        var features = _items.AsSpan(item * Dimensions, Dimensions);
        double sum = 0;
        for (var d = 0; d < Dimensions; d++)
        {
            sum += taste[d] * features[d];
        }

        return sum;
    }

    public static double ClickProbability(double affinity) => Sigmoid(ClickBias + (ClickWeight * affinity));

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double Gaussian(Random random)
    {
        // Box-Muller; 1 - NextDouble() keeps the logarithm's argument in (0, 1].
        var u1 = 1 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
