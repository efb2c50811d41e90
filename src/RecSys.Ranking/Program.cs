using RecSys.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddOpenApi();

var app = builder.Build();
app.UseProblemDetailsForErrors();
app.MapOpenApi();
app.MapDefaultEndpoints();
app.Run();
