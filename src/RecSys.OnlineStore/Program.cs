using RecSys.OnlineStore;
using RecSys.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddOptions<OnlineStoreOptions>().BindConfiguration(OnlineStoreOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddHostedService<GarnetHost>();

// The health check pings the embedded server over its own port, the way every client reaches it.
var port = builder.Configuration.GetValue($"{OnlineStoreOptions.Section}:Port", 6390);
builder.Configuration[$"ConnectionStrings:{RecSys.Core.Domain.ServiceNames.OnlineStore}"] = $"127.0.0.1:{port}";
builder.AddOnlineStore();

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.MapDefaultEndpoints();
app.Run();
