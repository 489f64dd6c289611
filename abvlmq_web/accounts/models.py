"""Users with a role, and cohorts that tie residents to their instructors."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    RESIDENT = "resident", "Resident"
    INSTRUCTOR = "instructor", "Instructor"
    PROGRAM_ADMIN = "program_admin", "Program admin"


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESIDENT)

    @property
    def is_resident(self) -> bool:
        return self.role == Role.RESIDENT

    @property
    def is_instructor(self) -> bool:
        return self.role == Role.INSTRUCTOR

    @property
    def is_program_admin(self) -> bool:
        return self.role == Role.PROGRAM_ADMIN

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Cohort(models.Model):
    name = models.CharField(max_length=120, unique=True)
    instructors = models.ManyToManyField(
        User, related_name="instructed_cohorts", blank=True, limit_choices_to={"role": "instructor"}
    )
    residents = models.ManyToManyField(
        User, related_name="cohorts", blank=True, limit_choices_to={"role": "resident"}
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
