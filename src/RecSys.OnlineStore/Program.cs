using RecSys.Core.Domain;
using RecSys.OnlineStore;
using RecSys.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddOptionsWithValidateOnStart<OnlineStoreOptions, OnlineStoreOptionsValidator>().BindConfiguration(OnlineStoreOptions.SectionName);
builder.Services.AddHostedService<GarnetHost>();

// The health check pings the embedded server over its own port, the way every client reaches it.
var port = builder.Configuration.GetValue($"{OnlineStoreOptions.SectionName}:Port", 6390);
builder.Configuration[$"ConnectionStrings:{ServiceNames.OnlineStore}"] = $"127.0.0.1:{port}";
builder.AddKeyedRedisClient(ServiceNames.OnlineStore, configureSettings: s => s.DisableHealthChecks = true, configureOptions: o => o.AbortOnConnectFail = false);
builder.Services.AddHealthChecks().AddRedis(
    sp => sp.GetRequiredKeyedService<StackExchange.Redis.IConnectionMultiplexer>(ServiceNames.OnlineStore),
    name: ServiceNames.OnlineStore,
    timeout: TimeSpan.FromSeconds(2));

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.MapDefaultEndpoints();
app.Run();
