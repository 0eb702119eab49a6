from django.http import HttpResponse


def home(request):
    return HttpResponse("Vitrina")


project = environment = release = deployment = home
